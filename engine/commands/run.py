"""pybox run [options] IMAGE [CMD...]: docker's run (runc's `run ID` is pybox-runc's)."""

from pybox.errors import PyboxError


def main(g, argv):
    """docker's exit statuses: 125 when pybox itself fails (bad flags, image, config), 126 when
    the command cannot be invoked, 127 when it is not found (engine/failure.py)."""
    try:
        return _run(g, argv)
    except (PyboxError, OSError) as err:
        from pybox.engine.failure import report
        return report(g, "run", err)


def _run(g, argv):
    from pybox.engine import lifecycle, options
    v = options.parse_run(argv)
    store = lifecycle.open_store()
    box = lifecycle.create_box(g.root, store, v)
    if not v["detach"]:
        status = lifecycle.run_foreground(g.root, store, box)
        lifecycle.restart_in_background(g.root, box)
        return status
    try:
        lifecycle.start_detached(g.root, store, box)
    except PyboxError:
        # docker keeps a container its start failed (created, with State.Error), unless --rm
        if box.data.get("rm"):
            lifecycle.remove(g.root, store, box, force=True)
        raise
    except BaseException:
        lifecycle.remove(g.root, store, box, force=True)
        raise
    print(box.id)
    return 0
