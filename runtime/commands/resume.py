"""pybox resume ID: thaw a paused container."""

from pybox.args import Parser

parser = Parser("resume", [], positionals=["id"], usage="resume <container-id>")


def main(g, argv):
    from pybox.runtime.container import resume
    from pybox.engine.dispatch import runtime_target
    _, v = parser.parse(argv)
    resume(*runtime_target(g.root, v["id"]))  # docker's users name containers
    return 0
