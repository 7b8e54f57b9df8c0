"""pybox start CONTAINER...: start created or stopped containers again, detached (docker's start).

Exit status: 0; else docker's for the first that failed: 125 when pybox fails (no such container),
126 when its command cannot be invoked, 127 when it is not found (engine/failure.py).
"""

from pybox.args import Parser

parser = Parser("start", ["--attach -a # (accepted; the container runs detached)",
                          "--interactive -i # (accepted; the container runs detached)"],
                rest="containers", usage="start CONTAINER...",
                description="Start one or more created or stopped containers, detached.")


def main(g, argv):
    from pybox.errors import PyboxError
    from pybox.engine.failure import ENGINE, report
    from pybox.engine.lifecycle import open_store, start_again
    from pybox.engine.containers import resolve
    try:
        _, v = parser.parse(argv)
        if not v["containers"]:
            raise PyboxError("give at least one container")
        store = open_store()
    except PyboxError as err:
        return report(g, "start", err)
    status = 0
    for ref in v["containers"]:
        try:
            start_again(g.root, store, resolve(store, ref))
            print(ref, flush=True)
        except (PyboxError, OSError) as err:
            status = status or report(g, f"start {ref}", err) or ENGINE
    return status
