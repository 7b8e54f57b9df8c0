"""exec: a new process in a running container.

The parent hands the container's pid namespace over for the fork (runtime/forkns.py); the
process joins the other namespaces itself (setns into a user or time namespace needs a
single-threaded caller, which a freshly forked child is), waits to be put in its cgroup, then
execs. Kept apart from the init's stages, so that exec loads nothing about mounting a root.
"""

import os

from pybox import kernel as k
from pybox.errors import from_oserror
from pybox.runtime.init import common
from pybox.runtime.init import process as proc


def tenant(ctx, joined=()):
    try:
        _enter_container(ctx, joined)
        ctx.sync.expect("go")
        proc.set_affinity(ctx.process, "initial")
        ctx.sync.send("cgroup")
        ctx.sync.expect("cgroup-ok")
        proc.set_affinity(ctx.process, "final")
        os.setsid()  # a session and process group of its own, as runc gives every exec'd process
        if ctx.process.terminal:
            common.setup_terminal(ctx, dev_console=False)  # /dev/console stays the init's
        common.become_and_exec(ctx)
    except BaseException as err:  # noqa: BLE001
        common.fatal(ctx, err)


def intermediate(ctx):
    """Rootless exec: a parent outside the container's user namespace may not hand its pid
    namespace over, so this child joins both (as runc's nsexec does) and forks the process."""
    try:
        k.prctl(k.PR_SET_DUMPABLE, 0)
        common.close_inherited(ctx)
        common.join_namespaces(ctx, ["user", "pid"])
        pid = os.fork()
        if pid == 0:
            tenant(ctx, joined=("user", "pid"))
        ctx.sync.send("pid", {"pid": pid})
        os._exit(0)
    except BaseException as err:  # noqa: BLE001
        common.fatal(ctx, err)


def _enter_container(ctx, joined):
    k.prctl(k.PR_SET_DUMPABLE, 0)  # CVE-2019-5736: no access to our /proc/pid/exe
    if not joined:
        common.close_inherited(ctx)
    common.preload(ctx)
    root_fd = _open_root_without_mountns(ctx)
    common.join_namespaces(ctx, [kind for kind in common.JOIN_ORDER if kind != "pid" and kind not in joined])
    if root_fd is not None:
        os.fchdir(root_fd)
        os.chroot(".")
        os.close(root_fd)


def _open_root_without_mountns(ctx):
    """A container without a mount namespace is only chrooted: there is no namespace whose root
    setns would give us, so the process takes the init's root (opened before any setns)."""
    if any(kind == "mount" for kind, _ in ctx.joins):
        return None
    try:
        return os.open(f"/proc/{ctx.init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise from_oserror(err, "open the container's root") from None
