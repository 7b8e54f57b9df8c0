"""What the container's init and an exec'd process both do: drop the runtime's fds, join
namespaces by path, take a terminal, then become the configured process and execve.

Both run in a child the parent forked; an exception reaches the parent as one "error" message.
"""

import os

from pybox import kernel as k
from pybox.errors import PyboxError, from_oserror
from pybox.runtime.init import dmz
from pybox.runtime.init import process as proc
from pybox.runtime.spec import NAMESPACE_FLAGS

JOIN_ORDER = ["user", "ipc", "uts", "network", "pid", "time", "cgroup", "mount"]


def fatal(ctx, err):
    if isinstance(err, PyboxError):
        message = str(err)
    elif isinstance(err, OSError):  # a step without context of its own: say at least where
        what = f"{err.filename}: " if err.filename else ""
        message = f"{'exec' if ctx.init_pid else 'container init'}: {what}{err.strerror or err}"
    else:
        message = f"{type(err).__name__}: {err}"
    if ctx.sync.sock.fileno() >= 0:
        ctx.sync.fail(message)
    else:  # past "ready": create has returned; the container's stderr is all that is left
        os.write(2, f"pybox: {message}\n".encode())
    os._exit(1)


def close_inherited(ctx):
    """Drop every fd the runtime had open (the state lock above all) but the ones the init needs."""
    keep = set(range(3 + ctx.preserve_fds)) | {ctx.sync.fileno()}
    keep |= {fd for fd in (ctx.console_fd, ctx.fifo_fd, ctx.state_fd) if fd is not None}
    keep |= set(ctx.idmap_fds.values())
    low = 0
    for fd in sorted(keep) + [1 << 31]:  # close_range(2) over each gap between the kept fds
        if fd > low:
            k.close_range(low, fd - 1, 0)
        low = fd + 1


def join_namespaces(ctx, kinds):
    """setns into each namespace of `kinds` named by path, in that order.

    Every path is opened before the first setns: after joining a mount namespace, /proc/<pid>
    of the host would no longer resolve.
    """
    fds = []
    try:
        for kind in kinds:
            for joined, path in ctx.joins:
                if joined == kind:
                    try:
                        fds.append((kind, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
                    except OSError as err:
                        raise from_oserror(err, f"open {kind} namespace {path}") from None
        for kind, path, fd in fds:
            try:
                k.setns(fd, NAMESPACE_FLAGS[kind])
            except OSError as err:
                raise from_oserror(err, f"join {kind} namespace {path}") from None
    finally:
        for _, _, fd in fds:
            os.close(fd)


def preload(ctx):
    """After pivot_root the host's files are gone: import now what the later steps need."""
    if ctx.process.terminal:
        import pybox.runtime.console  # noqa: F401
    if ctx.hooks.createContainer or ctx.hooks.startContainer:
        import pybox.runtime.hooks  # noqa: F401
        import subprocess  # noqa: F401
    if ctx.seccomp is not None:
        import pybox.seccomp.load  # noqa: F401


def setup_terminal(ctx, dev_console):
    from pybox.runtime.console import open_container_pty
    if ctx.console_fd is None:
        raise PyboxError("process.terminal is true but there is no console socket to send the terminal to")
    try:
        open_container_pty(ctx.console_fd, ctx.process.consoleSize, dev_console)
    except OSError as err:
        raise from_oserror(err, "process.terminal: the container's pty") from None


def _set_memory_policy(policy):
    """linux.memoryPolicy: kept across execve, inherited by the container's children."""
    if policy:
        from pybox.runtime.spec import MEMORY_POLICY_FLAGS, MEMORY_POLICY_MODES
        from pybox.units import cpu_list
        mode = MEMORY_POLICY_MODES[policy.mode]
        for flag in policy.flags:
            mode |= MEMORY_POLICY_FLAGS[flag]
        try:
            k.set_mempolicy(mode, cpu_list(policy.nodes) if policy.nodes else set())
        except OSError as err:
            raise PyboxError(f"linux.memoryPolicy: {err.strerror}") from None


def become_and_exec(ctx, before_exec=None):
    """Identity, capabilities, cwd, then "ready" and execve; before_exec (the init's wait for
    `start`) runs once the parent has let go.

    The seccomp filter comes last, so that a profile need not allow what the runtime does
    (close_range, getcwd, ...): after it, nothing but execve -- and, without no_new_privs, the
    one capset that drops the CAP_SYS_ADMIN held for loading it. A filter with NOTIFY rules is
    loaded before "ready" instead: its listener fd must reach the parent while it listens.
    """
    process = ctx.process
    env = proc.environment(process)
    _set_memory_policy(ctx.linux.memoryPolicy)
    hold = proc.seccomp_needs_admin(process) if ctx.seccomp is not None else 0
    skipped = proc.become(process, hold)
    if skipped:
        ctx.sync.send("warning", {"message": f"process.capabilities.ambient: {', '.join(skipped)} not "
                                             "in both the permitted and inheritable sets: not raised"})
    proc.enter_cwd(process.cwd or "/")
    path = proc.find_executable(process.args[0], env)
    proc.close_extra_fds(3 + ctx.preserve_fds)
    stub = dmz.prepare()  # the host's interpreter must never be what the container execs through
    notify = ctx.seccomp is not None and ctx.seccomp.notify
    if notify:
        proc.default_signals()
        _install_seccomp(ctx, hold)
    ctx.sync.send("ready")
    ctx.sync.close()
    if before_exec is not None:
        before_exec()
    if not notify:
        proc.default_signals()
        if ctx.seccomp is not None:
            _install_seccomp(ctx, hold)
    dmz.execve(stub, path, process.args, env)


def _install_seccomp(ctx, hold):
    from pybox.seccomp import install
    fd = install(ctx.seccomp)
    if hold:
        proc.release_held(ctx.process)
    if fd is not None:
        ctx.sync.send("seccomp", None, fd=fd)
        os.close(fd)
