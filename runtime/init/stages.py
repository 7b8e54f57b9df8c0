"""What runs in the processes the parent forks: the init, and when needed an intermediate.

A process cannot move itself into a new pid or time namespace; its children go there. Without a
user or time namespace the parent sets its own pid_for_children and forks the init directly
(direct_init). Otherwise an intermediate enters the namespaces (the user namespace first, so the
others belong to it) and forks the init, which becomes pid 1 there. An exec'd process (tenant)
is always forked directly: its pid namespace exists, and it joins the others itself. All of it
runs only code below and ends in os._exit or execve; an exception reaches the parent as one
"error" message.
"""

import os

from pybox import kernel as k
from pybox.errors import PyboxError, from_oserror
from pybox.runtime.init import process as proc
from pybox.runtime.init import rootfs as rfs
from pybox.runtime.spec import NAMESPACE_FLAGS

_JOIN_ORDER = ["user", "ipc", "uts", "network", "pid", "time", "cgroup", "mount"]


def _fatal(ctx, err):
    if isinstance(err, PyboxError):
        message = str(err)
    elif isinstance(err, OSError):
        message = f"{err.filename}: {err.strerror}" if err.filename else (err.strerror or str(err))
    else:
        message = f"{type(err).__name__}: {err}"
    if ctx.sync.sock.fileno() >= 0:
        ctx.sync.fail(message)
    else:  # past "ready": create has returned; the container's stderr is all that is left
        os.write(2, f"pybox: {message}\n".encode())
    os._exit(1)


def intermediate(ctx):
    """With a user or time namespace: enter the namespaces, then fork the init into them."""
    try:
        k.prctl(k.PR_SET_DUMPABLE, 0)  # CVE-2019-5736: no access to our /proc/pid/exe
        _close_inherited(ctx)
        offsets_fd = _open_time_offsets(ctx)
        _join_namespaces(ctx, ["user"])
        if ctx.new_flags & k.CLONE_NEWUSER:
            k.unshare(k.CLONE_NEWUSER)
            ctx.sync.send("userns")
            ctx.sync.expect("userns-ok")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        _enter_namespaces(ctx, done=k.CLONE_NEWUSER, offsets_fd=offsets_fd)
        pid = os.fork()
        if pid == 0:
            container_init(ctx)
        ctx.sync.send("pid", {"pid": pid})
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 — anything must reach the parent as one line
        _fatal(ctx, err)


def direct_init(ctx):
    """The init forked straight from the parent, born in the namespaces it was given."""
    try:
        k.prctl(k.PR_SET_DUMPABLE, 0)
        _close_inherited(ctx)
        _enter_namespaces(ctx, done=k.CLONE_NEWUSER | ctx.given_by_parent)
    except BaseException as err:  # noqa: BLE001
        _fatal(ctx, err)
    container_init(ctx)


def _open_time_offsets(ctx):
    """Opened while we are the host's root: once in a user namespace, our non-dumpable /proc
    entries belong to a root we no longer are."""
    if ctx.new_flags & k.CLONE_NEWTIME and ctx.linux.get("timeOffsets"):
        return os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    return None


def _enter_namespaces(ctx, done, offsets_fd=None):
    """Join the namespaces named by path and unshare the new ones, the mount namespace last.
    Skipped: those in `done` (entered already) and a new cgroup namespace, which waits until the
    init is in its cgroup."""
    skip = {kind for kind, flag in NAMESPACE_FLAGS.items() if flag & done}
    _join_namespaces(ctx, [t for t in _JOIN_ORDER if t not in skip and t != "mount"])
    k.unshare(ctx.new_flags & ~(done | k.CLONE_NEWCGROUP))
    if ctx.new_flags & k.CLONE_NEWNET:
        from pybox.netns.loopback import loopback_up
        loopback_up()  # as runc does: a new network namespace starts with lo down
    if ctx.new_flags & k.CLONE_NEWTIME:
        _write_time_offsets(ctx.linux.get("timeOffsets") or {}, offsets_fd)
    _join_namespaces(ctx, ["mount"])


def _close_inherited(ctx):
    """Drop every fd the runtime had open (the state lock above all) but the ones the init needs."""
    keep = set(range(3 + ctx.preserve_fds)) | {ctx.sync.fileno()}
    keep |= {fd for fd in (ctx.console_fd, ctx.fifo_fd, ctx.state_fd) if fd is not None}
    keep |= set(ctx.idmap_fds.values())
    low = 0
    for fd in sorted(keep) + [1 << 31]:  # close_range(2) over each gap between the kept fds
        if fd > low:
            k.close_range(low, fd - 1, 0)
        low = fd + 1


def _join_namespaces(ctx, kinds):
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


def _write_time_offsets(offsets, fd):
    lines = [f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}" for clock, o in offsets.items()]
    if lines:
        if fd is None:
            fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, ("\n".join(lines) + "\n").encode())
        finally:
            os.close(fd)


def _preload(ctx):
    """After pivot_root the host's files are gone: import now what the later steps need."""
    if ctx.process.get("terminal"):
        import pybox.runtime.console  # noqa: F401
    if ctx.hooks.get("createContainer") or ctx.hooks.get("startContainer"):
        import pybox.runtime.hooks  # noqa: F401
        import subprocess  # noqa: F401
    if ctx.seccomp is not None:
        import pybox.seccomp.load  # noqa: F401


def container_init(ctx):
    try:
        _preload(ctx)
        proc.set_affinity(ctx.process, "initial")
        os.setsid()
        # Mounting needs nothing from the parent, which may still be waiting on the kernel to
        # make the cgroup; if it dies meanwhile, "go" never comes and these mounts die with us.
        root_fd = _setup_rootfs(ctx)
        go, _ = ctx.sync.expect("go")
        ctx.state_for_hooks = go["state"]
        ctx.cgroup_plan = go["cgroup_plan"]
        if ctx.cgroup_mounts_at == "go" and ctx.new_mountns:
            _mount_cgroups(ctx, root_fd)  # host binds: while the host's paths are in reach
        _host_hooks(ctx)
        _container_hooks(ctx, "createContainer")
        if ctx.new_mountns:
            rfs.pivot_into(ctx.rootfs, ctx.no_pivot)
            os.close(root_fd)
            _finish_rootfs(ctx)
        else:
            # Still in the host's /proc, which shows the sysctls of the namespaces we are in.
            rfs.write_sysctls(ctx.linux.get("sysctl") or {})
            os.chroot(ctx.rootfs)
            os.chdir("/")
        _set_names(ctx.config)
        _set_personality(ctx.linux.get("personality"))
        _join_cgroup(ctx)
        if ctx.new_mountns and ctx.config["root"].get("readonly"):
            rfs.readonly_root()
        if not ctx.no_new_keyring:
            _new_session_keyring()
        if ctx.process.get("terminal"):
            _setup_terminal(ctx, dev_console=ctx.new_mountns)  # not the host's /dev/console
        if ctx.new_mountns:  # last: "runbindable" would refuse the binds above
            rfs.apply_root_propagation(ctx.linux.get("rootfsPropagation"))
        _exec_process(ctx, ctx.fifo_fd, ctx.state_fd)
    except BaseException as err:  # noqa: BLE001
        _fatal(ctx, err)


def _setup_rootfs(ctx):
    if not ctx.new_mountns:
        return None
    root_fd = rfs.prepare_root(ctx.rootfs, ctx.linux.get("rootfsPropagation"))
    mounts = ctx.config.get("mounts") or []
    rfs.mount_all(root_fd, mounts, ctx, deferred_cgroup=ctx.cgroup_mounts_at != "rootfs")
    if not _dev_is_bound_from_host(mounts):
        rfs.create_devices(root_fd, ctx.linux.get("devices") or [], ctx.userns)
    return root_fd


def _dev_is_bound_from_host(mounts):
    return any(m.get("destination", "").rstrip("/") == "/dev" and
               (m.get("type") == "bind" or "bind" in (m.get("options") or []) or "rbind" in (m.get("options") or []))
               for m in mounts)


def _host_hooks(ctx):
    """prestart and createRuntime run in the runtime's namespaces: the parent runs them."""
    if ctx.hooks.get("prestart") or ctx.hooks.get("createRuntime"):
        ctx.sync.send("hooks")
        ctx.sync.expect("hooks-ok")


def _container_hooks(ctx, kind):
    if ctx.hooks.get(kind):
        from pybox.runtime.hooks import run_hooks
        run_hooks(ctx.config, kind, ctx.state_for_hooks)


def _finish_rootfs(ctx):
    rfs.write_sysctls(ctx.linux.get("sysctl") or {})
    rfs.readonly_paths(ctx.linux.get("readonlyPaths") or [])
    rfs.mask_paths(ctx.linux.get("maskedPaths") or [])


def _set_names(config):
    if config.get("hostname"):
        k.sethostname(config["hostname"])
    if config.get("domainname"):
        k.setdomainname(config["domainname"])


def _set_personality(personality):
    if personality:
        from pybox.runtime.spec import PERSONALITY_DOMAINS
        k.personality(PERSONALITY_DOMAINS[personality["domain"]])


def _set_memory_policy(policy):
    """linux.memoryPolicy: kept across execve, inherited by the container's children."""
    if policy:
        from pybox.runtime.spec import MEMORY_POLICY_FLAGS, MEMORY_POLICY_MODES, cpu_list
        mode = MEMORY_POLICY_MODES[policy["mode"]]
        for flag in policy.get("flags") or []:
            mode |= MEMORY_POLICY_FLAGS[flag]
        try:
            k.set_mempolicy(mode, cpu_list(policy["nodes"]) if policy.get("nodes") else set())
        except OSError as err:
            raise PyboxError(f"linux.memoryPolicy: {err.strerror}") from None


def _join_cgroup(ctx):
    """The parent moves us into the cgroup now: set-up memory stays charged to the runtime."""
    ctx.sync.send("cgroup")
    ctx.sync.expect("cgroup-ok")
    proc.set_affinity(ctx.process, "final")
    if ctx.cgroupns:
        k.unshare(k.CLONE_NEWCGROUP)
    if ctx.cgroup_mounts_at == "join" and ctx.new_mountns:
        root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _mount_cgroups(ctx, root_fd)
        finally:
            os.close(root_fd)


def _mount_cgroups(ctx, root_fd):
    for i, m in enumerate(ctx.config.get("mounts") or []):
        if rfs.is_cgroup_mount(m):
            try:
                rfs.mount_one(root_fd, m, ctx)
            except OSError as err:
                raise from_oserror(err, f"mount {m.get('destination')} (mounts[{i}])") from None


def _new_session_keyring():
    try:
        k.keyctl_join_session_keyring(None)
    except OSError:
        pass  # keyrings may be unavailable (ENOSYS) or denied by a seccomp filter upstream


def _setup_terminal(ctx, dev_console):
    from pybox.runtime.console import open_container_pty
    if ctx.console_fd is None:
        raise PyboxError("process.terminal is true but there is no console socket to send the terminal to")
    open_container_pty(ctx.console_fd, ctx.process.get("consoleSize"), dev_console)


def _exec_process(ctx, fifo_fd=None, state_fd=None):
    process = ctx.process
    env = proc.environment(process)
    seccomp_early = ctx.seccomp is not None and not process.get("noNewPrivileges")
    if seccomp_early:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it before dropping it.
        _install_seccomp(ctx)
    _set_memory_policy(ctx.linux.get("memoryPolicy"))
    proc.become(process)
    proc.enter_cwd(process.get("cwd") or "/")
    path = proc.find_executable(process["args"][0], env)
    proc.close_extra_fds(3 + ctx.preserve_fds)
    if ctx.seccomp is not None and not seccomp_early:
        # As late as possible, but while the parent can still receive a NOTIFY listener fd.
        _install_seccomp(ctx)
    ctx.sync.send("ready")
    ctx.sync.close()
    if fifo_fd is not None:
        _wait_for_start(fifo_fd, state_fd)
        _container_hooks(ctx, "startContainer")
    os.execve(path, process["args"], env)


def _install_seccomp(ctx):
    from pybox.seccomp import install
    fd = install(ctx.seccomp)
    if fd is not None:
        ctx.sync.send("seccomp", None, fd=fd)
        os.close(fd)


def _wait_for_start(fifo_fd, state_fd):
    """Block until `start` opens the fifo for reading, then tell it we are going ahead."""
    try:
        fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # no /proc in this container: reach the fifo through its directory
        fd = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=state_fd)
    os.write(fd, b"0")
    os.close(fd)
    os.close(fifo_fd)
    os.close(state_fd)


# --- exec: a new process in an existing container ------------------------------------------------

def tenant(ctx):
    """The exec'd process, born in the container's pid namespace (the parent handed it over for
    the fork: runtime/forkns.py); it joins the other namespaces itself."""
    try:
        _enter_container(ctx, [kind for kind in _JOIN_ORDER if kind != "pid"])
    except BaseException as err:  # noqa: BLE001
        _fatal(ctx, err)
    tenant_process(ctx)


def _enter_container(ctx, kinds):
    k.prctl(k.PR_SET_DUMPABLE, 0)
    _close_inherited(ctx)
    _preload(ctx)
    root_fd = _open_root_without_mountns(ctx)
    _join_namespaces(ctx, kinds)
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


def tenant_process(ctx):
    try:
        ctx.sync.expect("go")
        proc.set_affinity(ctx.process, "initial")
        ctx.sync.send("cgroup")
        ctx.sync.expect("cgroup-ok")
        proc.set_affinity(ctx.process, "final")
        if ctx.process.get("terminal"):
            os.setsid()
            _setup_terminal(ctx, dev_console=False)
        _exec_process(ctx)
    except BaseException as err:  # noqa: BLE001
        _fatal(ctx, err)
