"""pybox-runc pause ID: freeze every process of the container."""

from pybox.args import Parser

parser = Parser("pause", [], positionals=["id"], usage="pause <container-id>")


def main(g, argv):
    from pybox.runtime.container import pause
    _, v = parser.parse(argv)
    pause(g.root, v["id"])
    return 0
