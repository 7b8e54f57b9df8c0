"""pybox rm [-f] CONTAINER...: remove containers, their rootfs, logs and network lease."""

from pybox.args import Parser

parser = Parser("rm", ["--force -f # remove running containers too (they are killed)",
                      "--volumes -v # (accepted for docker compatibility: pybox has no volumes)"],
                rest="containers", usage="rm [-f] CONTAINER...", description="""examples:
  pybox rm web                       remove the stopped container web
  pybox rm -f web                    kill it first if it runs
  pybox rm $(pybox ps -aq --filter status=exited)""")


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import remove
    from pybox.engine.options import expand_short
    _, v = parser.parse(expand_short(parser, argv))
    return for_each(v["containers"], lambda store, box: remove(g.root, store, box, v["force"]), "rm")
