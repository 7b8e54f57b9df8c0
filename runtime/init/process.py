"""The process the container runs: limits, identity, capabilities, then exec.

Shared by the container init and `exec`; `process` is config.json's process as a view.View
(attributes, absent members empty). The order matters: limits and priorities need
capabilities the process is about to lose; the bounding set is dropped while CAP_SETPCAP is still
held; uid/gid change with keep-caps so capset can then set exactly what config.json asks; the
inheritable and ambient sets stay empty unless asked (CVE-2022-29162).
"""

import os

from pybox import kernel as k
from pybox.errors import PyboxError, from_oserror
from pybox.runtime.spec import CAP_NUMBERS, IOPRIO_CLASSES, RLIMITS, SCHED_FLAGS, SCHED_POLICIES
from pybox.units import cpu_list

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def set_limits(process):
    for rl in process.rlimits:
        try:
            k.setrlimit(RLIMITS[rl.type], rl.soft, rl.hard)
        except (OSError, ValueError, OverflowError) as err:
            raise PyboxError(f"setrlimit {rl.type}: {getattr(err, 'strerror', None) or err}") from None
    if process.oomScoreAdj is not None:
        with step("process.oomScoreAdj"), open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process.oomScoreAdj))
    prio = process.ioPriority
    if prio:
        IOPRIO_WHO_PROCESS = 1
        with step("process.ioPriority"):
            k.ioprio_set(IOPRIO_WHO_PROCESS, 0, (IOPRIO_CLASSES[getattr(prio, "class")] << 13) | (prio.priority or 0))
    sched = process.scheduler
    if sched:
        flags = sum(SCHED_FLAGS[f] for f in sched.flags)
        with step("process.scheduler"):
            k.sched_setattr(0, SCHED_POLICIES[sched.policy], flags, sched.nice or 0, sched.priority or 0,
                            sched.runtime or 0, sched.deadline or 0, sched.period or 0)


class step:
    """`with step("process.user"):` turns an OSError of the kernel calls inside into one line
    naming the config field (or the step) that failed."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is not None and issubclass(kind, OSError):
            raise from_oserror(err, self.name) from None
        return False


def set_affinity(process, stage):
    """process.execCPUAffinity: `initial` until the cgroup is joined, `final` after it."""
    cpus = getattr(process.execCPUAffinity, stage)
    if cpus:
        with step(f"process.execCPUAffinity.{stage}"):
            os.sched_setaffinity(0, cpu_list(cpus))


def cap_mask(names):
    mask = 0
    for name in names or []:
        mask |= 1 << CAP_NUMBERS[name]
    return mask


def drop_bounding(caps):
    keep = cap_mask(caps.bounding)
    last = _last_cap()
    for cap in range(last + 1):
        if not keep & (1 << cap):
            k.prctl(k.PR_CAPBSET_DROP, cap)


def _last_cap():
    """The highest capability this kernel knows, asked of prctl: the container may have no /proc."""
    last = 40  # CAP_CHECKPOINT_RESTORE, in every kernel since 5.9
    while _known_cap(last + 1):
        last += 1
    while last > 0 and not _known_cap(last):
        last -= 1
    return last


def _known_cap(cap):
    try:
        k.prctl(k.PR_CAPBSET_READ, cap)
        return True
    except OSError:
        return False


def set_identity(user):
    """Groups, gid and uid, keeping the permitted capabilities across the uid change."""
    uid, gid = user.uid or 0, user.gid or 0
    k.prctl(k.PR_SET_KEEPCAPS, 1)
    try:
        os.setgroups(user.additionalGids)
    except PermissionError:
        if user.additionalGids:
            raise
        # setgroups is denied in a user namespace whose setgroups file says "deny".
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    k.prctl(k.PR_SET_KEEPCAPS, 0)
    if user.umask is not None:
        os.umask(user.umask)


CAP_SYS_ADMIN = 1 << CAP_NUMBERS["CAP_SYS_ADMIN"]


def cap_sets(caps):
    """(effective, permitted, inheritable) masks, as capset takes them."""
    return cap_mask(caps.effective), cap_mask(caps.permitted), cap_mask(caps.inheritable)


def set_capabilities(caps, hold=0):
    """capset, with the caps in `hold` kept effective and permitted besides, then the ambient set.

    An ambient capability must be permitted and inheritable; one that is not is skipped, as runc
    and crun do (`runc spec` writes such a config; the runtime spec says not to fail). Returns
    the names skipped."""
    effective, permitted, inheritable = cap_sets(caps)
    k.capset(effective | hold, permitted | hold, inheritable)
    k.prctl(k.PR_CAP_AMBIENT, k.PR_CAP_AMBIENT_CLEAR_ALL)
    skipped = []
    for name in caps.ambient:
        if not permitted & inheritable & (1 << CAP_NUMBERS[name]):
            skipped.append(name)
            continue
        k.prctl(k.PR_CAP_AMBIENT, k.PR_CAP_AMBIENT_RAISE, CAP_NUMBERS[name])
    return skipped


def seccomp_needs_admin(process):
    """Without no_new_privs, loading a seccomp filter needs CAP_SYS_ADMIN in the effective set:
    the mask to hold through become() when the process itself is not given it."""
    if process.noNewPrivileges:
        return 0
    effective = cap_mask(process.capabilities.effective)
    return 0 if effective & CAP_SYS_ADMIN else CAP_SYS_ADMIN


def become(process, hold=0):
    """Everything about identity and privileges, in the order the kernel needs. `hold`: caps kept
    effective until release_held() (CAP_SYS_ADMIN to load seccomp). Returns the ambient
    capabilities that were skipped."""
    caps = process.capabilities
    set_limits(process)
    with step("process.capabilities.bounding"):
        drop_bounding(caps)
    with step("process.user"):
        set_identity(process.user)
    with step("process.capabilities"):
        skipped = set_capabilities(caps, hold)
    if process.noNewPrivileges:
        with step("process.noNewPrivileges"):
            k.prctl(k.PR_SET_NO_NEW_PRIVS, 1)
    return skipped


def release_held(process):
    """The final capset, dropping what become() held; the ambient set is left as it was."""
    with step("process.capabilities"):
        k.capset(*cap_sets(process.capabilities))


def default_signals():
    """What Python changed goes back to the default before execve: SIGPIPE and SIGXFSZ, which
    the interpreter ignores, and the signal mask (emptied). Caught signals reset themselves at
    execve; signals the caller ignored stay ignored, as with runc."""
    import _signal  # built in: no file to find after pivot_root
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def environment(process):
    env = {}
    for item in process.env:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    if process.terminal:
        env.setdefault("TERM", "xterm")
    if "HOME" not in env:
        env["HOME"] = home_of(process.user.uid or 0)
    return env


def home_of(uid):
    """The home directory of uid in the container's /etc/passwd, "/" when it has none (runc).

    The file is the container's: a fifo or a device there must not make the runtime hang."""
    try:
        fd = os.open("/etc/passwd", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return "/"
    try:
        if os.fstat(fd).st_mode & 0o170000 != 0o100000:  # a regular file (no module to import)
            return "/"
        data = os.read(fd, 1 << 22)
    except OSError:
        return "/"
    finally:
        os.close(fd)
    wanted = str(uid).encode()
    for line in data.split(b"\n"):
        fields = line.split(b":")
        if len(fields) >= 6 and fields[2] == wanted:
            return fields[5].decode(errors="surrogateescape") or "/"
    return "/"


def find_executable(name, env):
    """Resolve args[0] in the container's PATH, as execvp would; PyboxError when not found."""
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in env.get("PATH", DEFAULT_PATH).split(":")]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    if "/" in name:
        # A path is not searched for: say what is wrong with it, as runc does (kubelet shows it).
        reason = "permission denied" if os.path.exists(name) else "no such file or directory"
        raise PyboxError(f"exec {name!r}: {reason}")
    raise PyboxError(f"exec {name!r}: executable file not found in $PATH")


def make_cwd(cwd):
    """The init creates a missing process.cwd (mode 0755) as the container's root, before the
    user is switched, as runc and crun do. Called inside the container's root."""
    try:
        os.makedirs(cwd, 0o755, exist_ok=True)
    except OSError as err:
        raise from_oserror(err, f"process.cwd {cwd}: create it") from None


def enter_cwd(cwd):
    """chdir, then make sure the result is inside the container's root (CVE-2024-21626)."""
    try:
        os.chdir(cwd)
    except OSError as err:
        raise from_oserror(err, f"cwd {cwd}") from None
    try:
        inside = os.getcwd().startswith("/")  # the kernel says "(unreachable)/..." outside the root
    except FileNotFoundError:  # and glibc turns that into ENOENT
        inside = False
    if not inside:
        raise PyboxError(f"cwd {cwd} is outside the container")


def close_extra_fds(keep_until):
    """Mark every fd from keep_until on close-on-exec, so no host fd reaches the container."""
    CLOSE_RANGE_CLOEXEC = 4
    k.close_range(keep_until, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
    for fd in range(3, keep_until):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
