"""pybox system migrate: for an ordinary user, stop every running container and the pause process
that holds the user's namespaces (podman's `system migrate` does both), unmounting the
fuse-overlayfs layers that would outlive it; the next command makes a new pause process. Nothing
to do for root."""

from pybox.args import Parser

parser = Parser("system migrate", [], usage="system migrate",
                description="Stop running containers and the rootless pause process.")


def main(g, argv):
    import os
    from pybox.userns import rootless_uid
    parser.parse(argv)
    if rootless_uid() is None:
        return 0
    from pybox.engine import rootless
    if rootless.running_pause() is None:
        return 0
    if os.geteuid() != 0:
        rootless.enter()  # runs this command again, in the namespaces
    _stop_all(g)
    _unmount_fuse()
    rootless.stop_pause()
    return 0


def _unmount_fuse():
    """A fuse-overlayfs process lives in the pause process's mount namespace and would keep it
    (and itself) alive after the pause process: unmounting makes it exit. `start` mounts the
    layer again in the next pause process's namespace, as for overlayfs."""
    from pybox.engine.lifecycle import open_store
    from pybox.images.overlay import fuse_mounts, unmount
    for point in fuse_mounts(open_store().path("rw")):
        unmount(point)


def _stop_all(g):
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import open_store, status_of, stop
    store = open_store()
    for box in all_boxes(store):
        if status_of(g.root, box) in ("running", "paused"):
            stop(g.root, box, 10)
