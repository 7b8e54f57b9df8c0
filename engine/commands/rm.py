"""pybox rm [-f] CONTAINER...: remove containers, their rootfs, logs and network lease."""

from pybox.args import Parser

parser = Parser("rm", ["--force -f", "--volumes -v"], rest="containers",
                usage="rm [-f] CONTAINER...")


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import remove
    from pybox.engine.options import expand_short
    _, v = parser.parse(expand_short(parser, argv))
    return for_each(v["containers"], lambda store, box: remove(g.root, store, box, v["force"]), "rm")
