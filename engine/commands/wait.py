"""pybox wait CONTAINER...: block until each stops; print its exit status."""

from pybox.args import Parser

parser = Parser("wait", [], rest="containers", usage="wait CONTAINER...")


def main(g, argv):
    from pybox.errors import PyboxError
    from pybox.engine.each import one
    from pybox.engine.lifecycle import wait_exit_code
    _, v = parser.parse(argv)
    if not v["containers"]:
        raise PyboxError("wait: give at least one container")
    for ref in v["containers"]:
        _, box = one(ref)
        print(wait_exit_code(g.root, box) or 0, flush=True)
    return 0
