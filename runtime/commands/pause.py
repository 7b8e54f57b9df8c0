"""pybox pause ID: freeze every process of the container."""

from pybox.args import Parser

parser = Parser("pause", [], positionals=["id"], usage="pause <container-id>")


def main(g, argv):
    from pybox.runtime.container import pause
    from pybox.engine.dispatch import runtime_target
    _, v = parser.parse(argv)
    pause(*runtime_target(g.root, v["id"]))  # docker's users name containers
    return 0
