"""pybox cleanup ID (internal): conmon's exit command; releases the network, honours --rm and
--restart (lifecycle.restart_by_policy)."""

from pybox.args import Parser

parser = Parser("cleanup", [], positionals=["id"], usage="cleanup <container-id>")


def main(g, argv):
    from pybox.engine.containers import load
    from pybox.engine.lifecycle import after_exit, open_store, restart_by_policy
    _, v = parser.parse(argv)
    store = open_store()
    box = load(store, v["id"])
    if box is None:
        return 0  # removed already (rm -f does not wait for this command)
    try:
        after_exit(g.root, store, box)
        restart_by_policy(g.root, store, box)
    except FileNotFoundError:
        pass  # removed while we were releasing its network
    return 0
