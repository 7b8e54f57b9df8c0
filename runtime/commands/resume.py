"""pybox-runc resume ID: thaw a paused container."""

from pybox.args import Parser

parser = Parser("resume", [], positionals=["id"], usage="resume <container-id>")


def main(g, argv):
    from pybox.runtime.container import resume
    _, v = parser.parse(argv)
    resume(g.root, v["id"])
    return 0
