"""pybox-runc delete [--force] ID"""

from pybox.args import Parser

parser = Parser("delete", [
    "--force -f # kill a running container first",
], positionals=["id"], usage="delete [--force] <container-id>")


def main(g, argv):
    from pybox.runtime.container import delete
    _, v = parser.parse(argv)
    delete(g.root, v["id"], force=v["force"])
    return 0
