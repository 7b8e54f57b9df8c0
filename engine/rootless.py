"""The engine for an ordinary user: one pause process per user holds the user's namespaces.

As podman's rootless mode: a long-lived pause process (catatonit -P) holds a user namespace, in
which the caller's uid and gid are 0 and the user's /etc/subuid and /etc/subgid ranges follow
from 1 (written by newuidmap and newgidmap), and a mount namespace that user namespace owns.
Every `pybox` command joins both (setns) and execs itself again before it does anything, and is
root there: layers are
unpacked with their owners shifted into the subordinate range, overlayfs is mounted in that
mount namespace (so no mount is ever seen on the host), and pybox-runc and conmon run there.
Files under $XDG_RUNTIME_DIR/libpybox: pause.pid ("PID START") and the lock taken while the
pause process is looked for or made. `pybox system migrate` stops it (podman's too).

Imported only for an ordinary user (pybox.userns.rootless_uid): root's commands never do.
"""

import os

from pybox import kernel as k
from pybox import userns
from pybox.errors import PyboxError

CATATONIT = "/usr/bin/catatonit"


def state_dir():
    return os.path.join(userns.user_runtime_dir(), "libpybox")


def enter():
    """Join the user's namespaces, making the pause process first if none runs."""
    uid, gid = os.geteuid(), os.getegid()
    directory = state_dir()
    runtime_dir = os.path.dirname(directory)
    if not os.path.isdir(runtime_dir):
        raise PyboxError(f"rootless: {runtime_dir} does not exist (set XDG_RUNTIME_DIR to a "
                         "directory of your own)")
    from pybox.images.files import FileLock
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
        with FileLock(os.path.join(directory, "pause.lock")):
            pid = running_pause()
            if pid is None:
                pid = _start_pause(uid, gid)
            fds = [os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in ("user", "mnt")]
    except OSError as err:
        raise PyboxError(f"rootless: {err.filename or directory}: {err.strerror}") from None
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    try:
        k.setns(fds[0], k.CLONE_NEWUSER)
        k.setns(fds[1], k.CLONE_NEWNS)
    except OSError as err:
        raise PyboxError(f"rootless: joining the user namespace of pause process {pid}: "
                         f"{err.strerror}") from None
    finally:
        for fd in fds:
            os.close(fd)
    try:
        os.chdir(cwd)  # setns(CLONE_NEWNS) moved us to the namespace's root
    except OSError:
        os.chdir("/")
    os.environ[userns.ROOTLESS_ENV] = str(uid)
    # Again, as podman does: a process keeps the user namespace it was exec'd in as its memory's
    # (mm->user_ns), and until it execs the host's root alone may look into its children that
    # are not dumpable (the container's init, before it execs): /proc/PID/ns/net, say.
    import sys
    try:
        os.execv(sys.executable, sys.orig_argv)
    except OSError as err:
        raise PyboxError(f"rootless: running {sys.executable} again in the user namespace: "
                         f"{err.strerror}") from None


def _pid_file():
    return os.path.join(state_dir(), "pause.pid")


def running_pause():
    """The pid of this user's pause process, or None (a stale pid file is removed)."""
    from pybox.runtime.state import pid_start_time
    try:
        with open(_pid_file()) as f:
            pid, start = (int(word) for word in f.read().split())
    except (FileNotFoundError, ValueError):
        return None
    if pid_start_time(pid) == start and os.stat(f"/proc/{pid}").st_uid == os.getuid():
        return pid
    _remove(_pid_file())
    return None


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _ranges(path, uid):
    """(start, count) of the caller's first range in /etc/subuid or /etc/subgid (by name or uid)."""
    import pwd
    try:
        names = {str(uid), pwd.getpwuid(uid).pw_name}
    except KeyError:
        names = {str(uid)}
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
                    return int(parts[1]), int(parts[2])
    except FileNotFoundError:
        pass
    return None


def id_lines(uid, gid):
    """The pause namespace's maps: the caller as 0, the subordinate range from 1."""
    lines = []
    for own, path in ((uid, "/etc/subuid"), (gid, "/etc/subgid")):
        found = _ranges(path, uid)
        lines.append([(0, own, 1)] + ([(1, found[0], found[1])] if found else []))
    return lines


def _start_pause(uid, gid):
    """Fork (twice: the pause process is nobody's child) a process that unshares a user
    namespace, waits for its maps, unshares a mount namespace and execs catatonit -P."""
    from pybox.runtime.rootless import write_id_lines
    from pybox.runtime.state import pid_start_time
    up_read, up_write = os.pipe()
    down_read, down_write = os.pipe()
    child = os.fork()
    if child == 0:
        _pause_child(up_read, up_write, down_read, down_write)
    os.close(up_write)
    os.close(down_read)
    try:
        os.waitpid(child, 0)
        with os.fdopen(up_read, "rb", buffering=0) as up:
            pid = _expect(up, b"")
            uids, gids = id_lines(uid, gid)
            write_id_lines(pid, uids, gids, ("rootless: /etc/subuid", "rootless: /etc/subgid"))
            os.write(down_write, b"m")
            _expect(up, b"n")
    except BaseException:
        if "pid" in locals():
            _kill(pid)
        raise
    finally:
        os.close(down_write)
    from pybox.fsutil import write_atomic
    write_atomic(_pid_file(), f"{pid} {pid_start_time(pid)}\n")
    return pid


def _expect(pipe, tag):
    """The child's next line: its pid (tag b""), or the tag; its error as a PyboxError."""
    line = b""
    while not line.endswith(b"\n"):
        byte = pipe.read(1)
        if not byte:
            raise PyboxError("rootless: the pause process exited while starting")
        line += byte
    line = line.strip()
    if line.startswith(b"error "):
        raise PyboxError(f"rootless: starting the pause process: {line[6:].decode(errors='replace')}")
    if tag:
        return line == tag or _fail(line)
    return int(line)


def _fail(line):
    raise PyboxError(f"rootless: the pause process said {line!r}")


def _pause_child(up_read, up_write, down_read, down_write):
    """In the forked child: never returns."""
    try:
        os.close(up_read)
        os.close(down_write)
        os.setsid()
        if os.fork():
            os._exit(0)
        try:
            k.unshare(k.CLONE_NEWUSER)
            os.write(up_write, f"{os.getpid()}\n".encode())
            if os.read(down_read, 1) != b"m":
                os._exit(1)
            # Shared mounts copied into a namespace of a less privileged user namespace become
            # slaves: nothing mounted here reaches the host.
            k.unshare(k.CLONE_NEWNS)
        except OSError as err:
            os.write(up_write, f"error {err.strerror}\n".encode())
            os._exit(1)
        os.write(up_write, b"n\n")
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 16)
        import signal
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        if os.access(CATATONIT, os.X_OK):
            os.execv(CATATONIT, [CATATONIT, "-P"])
        while True:  # no catatonit: this process is the pause
            signal.pause()
    finally:
        os._exit(1)


def _kill(pid):
    import signal
    import time
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)


def stop_pause():
    """Kill this user's pause process (its namespaces go with their last process); its pid
    file and lock go too. True if one was running."""
    from pybox.images.files import FileLock
    directory = state_dir()
    if not os.path.isdir(directory):
        return False
    with FileLock(os.path.join(directory, "pause.lock")):
        pid = running_pause()
        if pid is not None:
            _kill(pid)
        _remove(_pid_file())
        _remove(os.path.join(directory, "pause.lock"))
    try:
        os.rmdir(directory)
    except OSError:
        pass
    return pid is not None


# --- what `run` cannot do for an ordinary user -------------------------------------------------
_LIMITS = (("memory", "--memory"), ("cpus", "--cpus"), ("cpu_shares", "--cpu-shares"),
           ("pids_limit", "--pids-limit"))


def check_run(v):
    """docker run's flags that need the host's root: one line each, before anything is made."""
    if v["privileged"]:
        raise PyboxError("--privileged: rootless: the host's devices cannot be given to a "
                         "container of an ordinary user")
    given = [flag for key, flag in _LIMITS if v[key]]
    if given and not _delegated(v):
        raise PyboxError(f"{given[0]}: rootless: no cgroup v2 subtree delegated to this user to "
                         "apply the limit in")


def _delegated(v):
    """The cgroup parent is in a cgroup v2 hierarchy and the user may make cgroups in it."""
    from pybox.cgroups import hierarchy
    from pybox.engine.bundle import DEFAULT_CGROUP_PARENT
    try:
        if hierarchy.discover()[0] != "unified":
            return False
    except PyboxError:
        return False
    parent = v["cgroup_parent"] or os.environ.get("PYBOX_CGROUP_PARENT") or DEFAULT_CGROUP_PARENT
    path = os.path.join(hierarchy.ROOT, parent.strip("/"))
    return os.path.isdir(path) and os.access(path, os.W_OK)
