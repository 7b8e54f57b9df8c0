"""pybox logs [-f] [--tail N] [-t] CONTAINER: what a detached container wrote (conmon's k8s-file)."""

from pybox.args import Parser

parser = Parser("logs", ["--follow -f", "--tail -n =", "--timestamps -t"], positionals=["container"],
                usage="logs [-f] [--tail N] CONTAINER")


def main(g, argv):
    from pybox.engine.each import one
    from pybox.engine.logs import show
    _, v = parser.parse(argv)
    _, box = one(v["container"])
    show(g.root, box, follow=v["follow"], tail=v["tail"], timestamps=v["timestamps"])
    return 0
