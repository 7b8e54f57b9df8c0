"""pybox-runc start ID: run the created container's process."""

from pybox.args import Parser

parser = Parser("start", [], positionals=["id"], usage="start <container-id>")


def main(g, argv):
    from pybox.runtime.container import start
    _, v = parser.parse(argv)
    start(g.root, v["id"])
    return 0
