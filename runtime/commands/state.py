"""pybox-runc state ID: the runtime-spec state as JSON."""

from pybox.args import Parser

parser = Parser("state", [], positionals=["id"], usage="state <container-id>")


def main(g, argv):
    from pybox import jsonio
    from pybox.runtime.state import open_existing
    _, v = parser.parse(argv)
    print(jsonio.dumps(open_existing(g.root, v["id"]).oci_state(), indent=2))
    return 0
