"""pybox start [-a [-i]] CONTAINER...: start created or stopped containers again, detached
(docker's start); with -a, attached to its output (and input with -i) until it exits.

Exit status: 0, or the container's with -a; else docker's for the first that failed: 125 when
pybox fails (no such container), 126 when its command cannot be invoked, 127 when it is not
found (engine/failure.py).
"""

from pybox.args import Parser

parser = Parser("start", ["--attach -a # attach to the container's output; exit with its status",
                          "--interactive -i # with -a: what is typed goes to the container's input",
                          "--detach-keys = # with -a: keys that detach, docker's form (ctrl-p,ctrl-q)",
                          "--sig-proxy # with -a: pass the signals this command gets to the container"
                          " (default true; --sig-proxy=false)"],
                rest="containers", usage="start [-a [-i]] CONTAINER...",
                description="Start one or more created or stopped containers, detached or attached (-a).")


def main(g, argv):
    from pybox.errors import PyboxError
    from pybox.engine.failure import ENGINE, report
    from pybox.engine.lifecycle import open_store, start_again
    from pybox.engine.containers import resolve
    from pybox.engine.options import expand_short
    try:
        _, v = parser.parse(expand_short(parser, argv))
        if not v["containers"]:
            raise PyboxError("give at least one container")
        attach = v["attach"] or v["interactive"]  # docker: -i alone attaches too
        if attach and len(v["containers"]) > 1:
            raise PyboxError("-a: one container at a time (docker's rule)")
        store = open_store()
        if attach:
            v["sig_proxy"] = not any(a in ("--sig-proxy=false", "--sig-proxy=0") for a in argv)  # default true
            return start_attached(g, store, resolve(store, v["containers"][0]), v)
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


def start_attached(g, store, box, v):
    """Connect to conmon's attach socket between create and start (as podman's start -a does),
    so that no output is lost; a running container is attached to as it is."""
    from pybox.engine.commands.attach import connect, detach_sequence, session
    from pybox.engine.lifecycle import reachable_root, start_again
    keys = detach_sequence(v["detach_keys"] or "ctrl-p,ctrl-q")
    stdin = bool(v["interactive"] and box.data.get("interactive"))
    socks = []
    try:
        start_again(g.root, store, box, before_start=lambda: socks.append(connect(box)), stdin_once=stdin)
        if not socks:  # it was running
            socks.append(connect(box))
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    root = reachable_root(g.root, box)
    if v["sig_proxy"]:
        _proxy_signals(root, box)
    return session(root, box, socks[0], keys, stdin)


def _proxy_signals(root, box):
    """docker's --sig-proxy: Ctrl-C (and TERM, HUP, ...) sent to us reach the container's init."""
    from pybox.engine.lifecycle import runtime_record
    from pybox.runtime.foreground import forward_signals
    record = runtime_record(root, box)
    if record is not None and record.data.get("pid"):
        forward_signals(record.data["pid"])
