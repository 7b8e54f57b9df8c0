"""pybox prune (container prune): remove every stopped container."""

from pybox.args import Parser

parser = Parser("prune", [
    "--force -f # do not ask (pybox never asks: accepted for docker compatibility)",
], usage="prune [-f]")


def main(g, argv):
    from pybox.engine.containers import all_boxes, collect_orphans
    from pybox.engine.lifecycle import collect_runtime_orphans, open_store, remove, status_of
    parser.parse(argv)
    store = open_store()
    for box in all_boxes(store):
        if status_of(g.root, box) in ("exited", "created"):
            remove(g.root, store, box)
            print(box.id)
    collect_orphans(store)  # what killed `run`s and `rm`s left, which ps misses
    collect_runtime_orphans(g.root, store)
    store.collect_orphan_layers()
    return 0
