"""pybox system df | pybox system prune [-a] [--volumes] [-f]: disk use and cleaning up, as docker's.

`system info` and `system events` are `info` and `events` (engine/commands/group.py).
"""

from pybox.args import Parser

df_parser = Parser("system df", ["--format = # json, or the default table"], usage="system df [--format json]",
                   description="Show the disk space images, containers and volumes use.")
prune_parser = Parser("system prune", [
    "--all -a # also remove images no container uses, named or not",
    "--volumes # also remove volumes no container uses",
    "--force -f # do not ask for confirmation",
], usage="system prune [-a] [--volumes] [-f]",
    description="Remove stopped containers, images without a name no container uses, and with "
                "--volumes unused volumes.")


def tree_size(path):
    """Bytes in the files below path (apparent sizes, symlinks not followed)."""
    import os
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def human(size):
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.4g}{unit}" if unit != "B" else f"{int(size)}B"
        size /= 1000


def usage(g, store):
    import os
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import status_of
    boxes = all_boxes(store)
    running = [b for b in boxes if status_of(g.root, b) in ("running", "paused")]
    used_images = {b.data.get("image_id") for b in boxes}
    images = store.images()
    sizes = {image.id: sum(tree_size(d) for d in image.layer_dirs()) for image in images}
    box_sizes = {b.id: tree_size(os.path.join(store.rw_dir(b.id), "upper")) for b in boxes}
    volumes_dir = store.path("volumes")
    volumes = sorted(os.listdir(volumes_dir)) if os.path.isdir(volumes_dir) else []
    used_volumes = _used_volumes(store, boxes)
    volume_sizes = {name: tree_size(os.path.join(volumes_dir, name)) for name in volumes}
    return [
        {"Type": "Images", "TotalCount": len(images), "Active": len([i for i in images if i.id in used_images]),
         "Size": sum(sizes.values()),
         "Reclaimable": sum(s for i, s in sizes.items() if i not in used_images)},
        {"Type": "Containers", "TotalCount": len(boxes), "Active": len(running),
         "Size": sum(box_sizes.values()),
         "Reclaimable": sum(s for i, s in box_sizes.items() if i not in {b.id for b in running})},
        {"Type": "Local Volumes", "TotalCount": len(volumes), "Active": len(used_volumes & set(volumes)),
         "Size": sum(volume_sizes.values()),
         "Reclaimable": sum(s for n, s in volume_sizes.items() if n not in used_volumes)},
    ]


def _used_volumes(store, boxes):
    """Names of the volumes any container's config mounts."""
    from pybox import jsonio
    base = store.path("volumes") + "/"
    used = set()
    for box in boxes:
        try:
            spec = jsonio.load_file(box.path("config.json"))
        except (OSError, ValueError):
            continue
        for mount in spec.get("mounts") or []:
            source = mount.get("source") or ""
            if source.startswith(base):
                used.add(source[len(base):].split("/")[0])
    return used


def df(g, argv):
    from pybox import jsonio
    from pybox.errors import PyboxError
    from pybox.engine.lifecycle import open_store
    _, v = df_parser.parse(argv)
    rows = usage(g, open_store())
    if v["format"] == "json":
        print(jsonio.dumps(rows))
        return 0
    if v["format"] is not None:
        raise PyboxError(f"system df: --format must be json, not {v['format']!r}")
    cells = [("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE")]
    for r in rows:
        share = f" ({100 * r['Reclaimable'] // r['Size']}%)" if r["Size"] else " (0%)"
        cells.append((r["Type"], str(r["TotalCount"]), str(r["Active"]), human(r["Size"]),
                      human(r["Reclaimable"]) + share))
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    for c in cells:
        print("   ".join(cell.ljust(w) for cell, w in zip(c, widths)).rstrip())
    return 0


def prune(g, argv):
    import os
    import sys
    from pybox.errors import PyboxError
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import open_store, remove, status_of
    _, v = prune_parser.parse(argv)
    if not v["force"]:
        print("WARNING! This will remove all stopped containers, images without a name"
              + (" and every image no container uses" if v["all"] else "")
              + (", and volumes no container uses" if v["volumes"] else "")
              + ".\nAre you sure you want to continue? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise PyboxError("system prune: not confirmed (give -f to skip the question)")
    store = open_store()
    before = _store_bytes(store)
    gone = []
    for box in all_boxes(store):
        if status_of(g.root, box) in ("exited", "created"):
            remove(g.root, store, box)
            gone.append(box.id)
    from pybox.engine.containers import collect_orphans
    collect_orphans(store)  # what killed runs and rms left: the engine's records, then the layers
    from pybox.engine.lifecycle import collect_runtime_orphans
    collect_runtime_orphans(g.root, store)
    store.collect_orphan_layers()
    images = store.prune()
    if v["all"]:
        used = set(store.containers().values())
        for image in store.images():
            if image.id not in used:
                store.remove(image.id, force=True)
                images.append(image.id)
        store.gc()
    volumes = []
    if v["volumes"]:
        from pybox.images.files import remove_tree
        used = _used_volumes(store, all_boxes(store))
        base = store.path("volumes")
        for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            if name not in used:
                remove_tree(os.path.join(base, name))
                volumes.append(name)
    for title, ids in (("Deleted Containers", gone), ("Deleted Images", images), ("Deleted Volumes", volumes)):
        if ids:
            print(title + ":\n" + "\n".join(ids) + "\n")
    print(f"Total reclaimed space: {human(max(0, before - _store_bytes(store)))}")
    return 0


def _store_bytes(store):
    return tree_size(store.path())


def main(g, argv):
    return df(g, argv) if g.command == "system-df" else prune(g, argv)
