"""pybox-runc run [--bundle DIR] [--detach] [--keep] ... ID: create and start; in the foreground, wait.

(`pybox run IMAGE` is docker's run: pybox.engine.commands.run.) In the foreground pybox-runc
stays the container's parent (a child subreaper), forwards signals to its init, proxies the
terminal when process.terminal is set, exits with the container's status (128+N when killed by
signal N) and deletes it unless --keep.
"""

import os

from pybox.args import Parser
from pybox.runtime.commands.create import CREATE_OPTIONS, options_from

parser = Parser("run", CREATE_OPTIONS + [
    "--detach -d # return once the process has started",
    "--keep # keep the container after it exits",
], positionals=["id"], usage="run [options] <container-id>")


def main(g, argv):
    from pybox import kernel as k
    from pybox.runtime import container
    from pybox.runtime.foreground import console_pair, forward_signals, receive_master, unignore_interrupts, wait_for
    from pybox.runtime.selfexe import protect_create
    from pybox.runtime.spec import load_bundle
    _, v = parser.parse(argv)
    opts = options_from(g, v)
    opts.config = load_bundle(opts.bundle)
    protect_create(opts.config)
    if v["detach"]:
        record = container.create(g.root, v["id"], opts)
        container.start(g.root, v["id"], record)
        return 0
    k.prctl(k.PR_SET_CHILD_SUBREAPER, 1)
    unignore_interrupts()
    console = console_pair(opts)
    try:
        record = container.create(g.root, v["id"], opts)
    finally:
        if console:
            os.close(console[1])
    pid = record.data["pid"]
    master = receive_master(console[0]) if console else None
    forward_signals(pid)
    try:
        container.start(g.root, v["id"], record)
        status = wait_for(pid, master)
    finally:
        if not v["keep"]:
            container.delete(g.root, v["id"], force=True, record=record)
    return status
