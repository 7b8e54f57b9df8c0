"""The container's init, and when needed an intermediate that forks it (exec's process: tenant.py).

A process cannot move itself into a new pid or time namespace; its children go there. Without a
user or time namespace the parent sets its own pid_for_children and forks the init directly
(direct_init). Otherwise an intermediate enters the namespaces (the user namespace first, so the
others belong to it) and forks the init, which becomes pid 1 there. The init mounts its root,
waits for "go", pivots, joins its cgroup, then waits for `start` and execs. All of it ends in
os._exit or execve; an exception reaches the parent as one "error" message.
"""

import os

from pybox import kernel as k
from pybox.errors import from_oserror
from pybox.runtime.init import common
from pybox.runtime.init import process as proc
from pybox.runtime.init import rootfs as rfs
from pybox.runtime.spec import NAMESPACE_FLAGS


def intermediate(ctx):
    """With a user or time namespace: enter the namespaces, then fork the init into them."""
    try:
        k.prctl(k.PR_SET_DUMPABLE, 0)  # CVE-2019-5736: no access to our /proc/pid/exe
        common.close_inherited(ctx)
        offsets_fd = _open_time_offsets(ctx)
        common.join_namespaces(ctx, ["user"])
        if ctx.new_flags & k.CLONE_NEWUSER:
            _unshare(k.CLONE_NEWUSER)
            rootless = os.geteuid() != 0
            if rootless:  # as runc's nsexec: a non-root parent writes our maps only if we are dumpable
                k.prctl(k.PR_SET_DUMPABLE, 1)
            ctx.sync.send("userns")
            ctx.sync.expect("userns-ok")
            if rootless:
                k.prctl(k.PR_SET_DUMPABLE, 0)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        _enter_namespaces(ctx, done=k.CLONE_NEWUSER, offsets_fd=offsets_fd)
        pid = os.fork()
        if pid == 0:
            container_init(ctx)
        ctx.sync.send("pid", {"pid": pid})
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 — anything must reach the parent as one line
        common.fatal(ctx, err)


def direct_init(ctx):
    """The init forked straight from the parent, born in the namespaces it was given."""
    try:
        k.prctl(k.PR_SET_DUMPABLE, 0)
        common.close_inherited(ctx)
        _enter_namespaces(ctx, done=k.CLONE_NEWUSER | ctx.given_by_parent)
    except BaseException as err:  # noqa: BLE001
        common.fatal(ctx, err)
    container_init(ctx)


def _open_time_offsets(ctx):
    """Opened while we are the host's root: once in a user namespace, our non-dumpable /proc
    entries belong to a root we no longer are."""
    if ctx.new_flags & k.CLONE_NEWTIME and ctx.linux.timeOffsets:
        return os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    return None


def _enter_namespaces(ctx, done, offsets_fd=None):
    """Join the namespaces named by path and unshare the new ones, the mount namespace last.
    Skipped: those in `done` (entered already) and a new cgroup namespace, which waits until the
    init is in its cgroup."""
    skip = {kind for kind, flag in NAMESPACE_FLAGS.items() if flag & done}
    common.join_namespaces(ctx, [t for t in common.JOIN_ORDER if t not in skip and t != "mount"])
    _unshare(ctx.new_flags & ~(done | k.CLONE_NEWCGROUP))
    if ctx.new_flags & k.CLONE_NEWNET:
        from pybox.netns.loopback import loopback_up
        loopback_up()  # as runc does: a new network namespace starts with lo down
    if ctx.new_flags & k.CLONE_NEWTIME:
        _write_time_offsets(ctx.linux.timeOffsets, offsets_fd)
    common.join_namespaces(ctx, ["mount"])


def _unshare(flags):
    try:
        k.unshare(flags)
    except OSError as err:
        kinds = ", ".join(kind for kind, flag in NAMESPACE_FLAGS.items() if flag & flags)
        raise from_oserror(err, f"create the {kinds} namespaces (linux.namespaces)") from None


def _write_time_offsets(offsets, fd):
    lines = [f"{clock} {o.secs or 0} {o.nanosecs or 0}" for clock, o in offsets.items()]
    if lines:
        if fd is None:
            fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, ("\n".join(lines) + "\n").encode())
        except OSError as err:
            raise from_oserror(err, "write /proc/self/timens_offsets (linux.timeOffsets)") from None
        finally:
            os.close(fd)


def container_init(ctx):
    try:
        common.preload(ctx)
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
            rfs.write_sysctls(ctx.linux.sysctl)
            os.chroot(ctx.rootfs)
            os.chdir("/")
        proc.make_cwd(ctx.process.cwd or "/")
        _set_names(ctx.config)
        _set_personality(ctx.linux.personality)
        _join_cgroup(ctx)
        if ctx.new_mountns and ctx.config.root.readonly:
            rfs.readonly_root()
        if not ctx.no_new_keyring:
            _new_session_keyring()
        if ctx.process.terminal:
            common.setup_terminal(ctx, dev_console=ctx.new_mountns)  # not the host's /dev/console
        if ctx.new_mountns:  # last: "runbindable" would refuse the binds above
            rfs.apply_root_propagation(ctx.linux.rootfsPropagation)
        common.become_and_exec(ctx, before_exec=lambda: _wait_for_start(ctx))
    except BaseException as err:  # noqa: BLE001
        common.fatal(ctx, err)


def _setup_rootfs(ctx):
    if not ctx.new_mountns:
        return None
    root_fd = rfs.prepare_root(ctx.rootfs, ctx.linux.rootfsPropagation)
    mounts = ctx.config.mounts
    rfs.mount_all(root_fd, mounts, ctx, deferred_cgroup=ctx.cgroup_mounts_at != "rootfs")
    if not _dev_is_bound_from_host(mounts):
        rfs.create_devices(root_fd, ctx.linux.devices, ctx.userns)
    return root_fd


def _dev_is_bound_from_host(mounts):
    return any(m.destination.rstrip("/") == "/dev" and
               (m.type == "bind" or "bind" in m.options or "rbind" in m.options) for m in mounts)


def _host_hooks(ctx):
    """prestart and createRuntime run in the runtime's namespaces: the parent runs them."""
    if ctx.hooks.prestart or ctx.hooks.createRuntime:
        ctx.sync.send("hooks")
        ctx.sync.expect("hooks-ok")


def _container_hooks(ctx, kind):
    if getattr(ctx.hooks, kind):
        from pybox.runtime.hooks import run_hooks
        run_hooks(ctx.config, kind, ctx.state_for_hooks, in_container=True)


def _finish_rootfs(ctx):
    rfs.write_sysctls(ctx.linux.sysctl)
    rfs.readonly_paths(ctx.linux.readonlyPaths)
    rfs.mask_paths(ctx.linux.maskedPaths)


def _set_names(config):
    for key, set_name in (("hostname", k.sethostname), ("domainname", k.setdomainname)):
        name = getattr(config, key)
        if name:
            try:
                set_name(name)
            except OSError as err:
                raise from_oserror(err, f"set the {key} {name!r} ({key})") from None


def _set_personality(personality):
    if personality:
        from pybox.runtime.spec import PERSONALITY_DOMAINS
        k.personality(PERSONALITY_DOMAINS[personality.domain])


def _join_cgroup(ctx):
    """The parent moves us into the cgroup now: set-up memory stays charged to the runtime."""
    ctx.sync.send("cgroup")
    ctx.sync.expect("cgroup-ok")
    proc.set_affinity(ctx.process, "final")
    if ctx.cgroupns:
        _unshare(k.CLONE_NEWCGROUP)
    if ctx.cgroup_mounts_at == "join" and ctx.new_mountns:
        root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _mount_cgroups(ctx, root_fd)
        finally:
            os.close(root_fd)


def _mount_cgroups(ctx, root_fd):
    for i, m in enumerate(ctx.config.mounts):
        if rfs.is_cgroup_mount(m):
            try:
                rfs.mount_one(root_fd, m, ctx)
            except OSError as err:
                raise from_oserror(err, f"mount {m.destination} (mounts[{i}])") from None


def _new_session_keyring():
    try:
        k.keyctl_join_session_keyring(None)
    except OSError:
        pass  # keyrings may be unavailable (ENOSYS) or denied by a seccomp filter upstream


def _wait_for_start(ctx):
    """Block until `start` opens the fifo for reading, tell it we are going ahead, then run the
    startContainer hooks."""
    fifo_fd, state_fd = ctx.fifo_fd, ctx.state_fd
    try:
        fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # no /proc in this container: reach the fifo through its directory
        fd = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=state_fd)
    os.write(fd, b"0")
    os.close(fd)
    os.close(fifo_fd)
    os.close(state_fd)
    _container_hooks(ctx, "startContainer")


