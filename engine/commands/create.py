"""pybox create [options] IMAGE [CMD...]: docker's create; `pybox start` runs it later.

Takes run's options. Exit status 125 when pybox fails (bad flags, image, configuration).
"""


def main(g, argv):
    from pybox.errors import PyboxError
    from pybox.engine import lifecycle, options
    try:
        v = options.parse_run(argv, "create")
        if v["rm"]:
            raise PyboxError("--rm: a created container is not run here; give it to `pybox run`")
        store = lifecycle.open_store()
        box = lifecycle.create_box(g.root, store, v)
    except (PyboxError, OSError) as err:
        from pybox.engine.failure import report
        return report(g, "create", err)
    print(box.id)
    return 0
