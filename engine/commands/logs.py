"""pybox logs [-f] [--tail N] [-t] CONTAINER: what a detached container wrote (conmon's k8s-file)."""

from pybox.args import Parser

parser = Parser("logs", [
    "--follow -f # keep printing new output until the container exits",
    "--tail -n = # only the last N lines (all: every line)",
    "--timestamps -t # start each line with the time it was written",
], positionals=["container"], usage="logs [-f] [--tail N] CONTAINER", description="""examples:
  pybox logs web                     everything web printed (stdout and stderr)
  pybox logs -f --tail 10 web        the last 10 lines, then follow""")


def main(g, argv):
    from pybox.engine.each import one
    from pybox.engine.logs import show
    _, v = parser.parse(argv)
    _, box = one(v["container"])
    show(g.root, box, follow=v["follow"], tail=v["tail"], timestamps=v["timestamps"])
    return 0
