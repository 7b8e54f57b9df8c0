"""pybox rename CONTAINER NEW_NAME: give a container another name (running or not)."""

from pybox.args import Parser

parser = Parser("rename", [], positionals=["container", "name"], usage="rename CONTAINER NEW_NAME",
                description="Rename a container.")


def main(g, argv):
    from pybox.errors import PyboxError
    from pybox.engine.containers import all_boxes, check_name, load_path, names_lock, resolve
    from pybox.engine.lifecycle import open_store
    _, v = parser.parse(argv)
    store = open_store()
    check_name(v["name"])
    with names_lock(store):  # as containers.new: no two containers take one name
        box = resolve(store, v["container"])
        if box.name == v["name"]:
            return 0
        if any(other.name == v["name"] for other in all_boxes(store)):
            raise PyboxError(f"rename {box.name}: the name {v['name']!r} is already in use")
        fresh = load_path(box.bundle)
        if fresh is None:
            raise PyboxError(f"rename {v['container']}: the container was removed")
        fresh.update(name=v["name"])
    return 0
