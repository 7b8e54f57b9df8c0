"""Every kernel call that Python 3.11 lacks, in one module.

Each wrapper raises OSError(errno, strerror, path) on failure, like os.* does. Nothing else in
pybox loads libc. The declarations live in _kernel_build.py; _kernel_ffi.py is generated from
them (out-of-line ABI mode, so no compiler at install time and no parsing at start-up).
"""

import os


from pybox._kernel_ffi import ffi

libc = ffi.dlopen("libc.so.6")

# Namespace flags (sched.h).
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 0x2

# mount_setattr(2) attributes.
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
AT_FDCWD = -100

# openat2(2) resolve flags.
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# prctl(2).
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_NR = {
    # name: (x86_64, aarch64); numbers from 424 up are the same on every architecture.
    "pivot_root": (155, 41),
    "prlimit64": (302, 261),
    "capget": (125, 90),
    "capset": (126, 91),
    "keyctl": (250, 219),
    "ioprio_set": (251, 30),
    "sched_setattr": (314, 274),
    "set_mempolicy": (238, 237),
    "seccomp": (317, 277),
    "bpf": (321, 280),
    "pidfd_send_signal": (424, 424),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "pidfd_open": (434, 434),
    "clone3": (435, 435),
    "close_range": (436, 436),
    "openat2": (437, 437),
    "mount_setattr": (442, 442),
}
_ARCH_INDEX = {"x86_64": 0, "aarch64": 1}[os.uname().machine]
NR = {name: nums[_ARCH_INDEX] for name, nums in _NR.items()}


def _check(result, path=None):
    if result < 0:
        err = ffi.errno
        raise OSError(err, os.strerror(err), path)
    return result


def _str(value):
    return ffi.NULL if value is None else os.fsencode(value)


def _carg(value):
    if isinstance(value, ffi.CData):
        return value
    if isinstance(value, bytes):  # a path: ffi.cast("long", b".") would pass the byte's value
        return ffi.new("char[]", value)
    return ffi.cast("long", value)


def syscall(name, *args, path=None):
    """Call a syscall by name; every argument is passed as a C long (or a pointer)."""
    cargs = [_carg(a) for a in args]
    return _check(libc.syscall(ffi.cast("long", NR[name]), *cargs), path)


def syscall_nr(number, *args):
    """Call a syscall by number: seccomp tests use numbers no name here has (x32, unassigned)."""
    return _check(libc.syscall(ffi.cast("long", number), *[_carg(a) for a in args]))


def mount(source, target, fstype, flags=0, data=None):
    _check(libc.mount(_str(source), _str(target), _str(fstype), flags, _str(data)), target)


def umount2(target, flags=0):
    _check(libc.umount2(_str(target), flags), target)


def unshare(flags):
    _check(libc.unshare(flags))


def setns(fd, nstype=0):
    _check(libc.setns(fd, nstype))


def sethostname(name):
    raw = name.encode()
    _check(libc.sethostname(raw, len(raw)))


def setdomainname(name):
    raw = name.encode()
    _check(libc.setdomainname(raw, len(raw)))


def prctl(option, a2=0, a3=0, a4=0, a5=0):
    return _check(libc.prctl(option, a2, a3, a4, a5))


def personality(persona):
    return _check(libc.personality(persona))


def pivot_root(new_root, put_old):
    syscall("pivot_root", _str(new_root), _str(put_old), path=new_root)


def setrlimit(resource, soft, hard):
    """prlimit64 on this process (the `resource` module is one more shared library to load)."""
    limit = ffi.new("uint64_t[2]", [min(soft, 2**64 - 1), min(hard, 2**64 - 1)])
    syscall("prlimit64", 0, resource, limit, ffi.NULL)


def openat2(dirfd, path, flags, mode=0, resolve=0):
    how = ffi.new("struct open_how *", {"flags": flags | os.O_CLOEXEC, "mode": mode, "resolve": resolve})
    return syscall("openat2", dirfd, _str(path), how, ffi.sizeof("struct open_how"), path=path)


def mount_setattr(dirfd, path, flags, attr_set=0, attr_clr=0, propagation=0, userns_fd=0):
    attr = ffi.new("struct mount_attr *", {"attr_set": attr_set, "attr_clr": attr_clr,
                                           "propagation": propagation, "userns_fd": userns_fd})
    syscall("mount_setattr", dirfd, _str(path), flags, attr, ffi.sizeof("struct mount_attr"), path=path)


def open_tree(dirfd, path, flags):
    return syscall("open_tree", dirfd, _str(path), flags, path=path)


def move_mount(from_dirfd, from_path, to_dirfd, to_path, flags):
    syscall("move_mount", from_dirfd, _str(from_path), to_dirfd, _str(to_path), flags, path=to_path)


def close_range(first, last=0xFFFFFFFF, flags=0):
    syscall("close_range", first, last, flags)


def pidfd_open(pid, flags=0):
    return syscall("pidfd_open", pid, flags)


def pidfd_send_signal(pidfd, sig):
    syscall("pidfd_send_signal", pidfd, sig, ffi.NULL, 0)


def seccomp(operation, flags, program):
    """program: packed struct sock_filter bytes. Returns the listener fd with NEW_LISTENER."""
    count = len(program) // 8
    filters = ffi.new("struct sock_filter[]", count)
    ffi.memmove(filters, program, len(program))
    prog = ffi.new("struct sock_fprog *", {"len": count, "filter": filters})
    return syscall("seccomp", operation, flags, prog)


def bpf(cmd, attr):
    """attr: a cffi buffer (ffi.new) holding the union bpf_attr fields for cmd."""
    return syscall("bpf", cmd, attr, ffi.sizeof(attr))


def keyctl_join_session_keyring(name=None):
    KEYCTL_JOIN_SESSION_KEYRING = 1
    return syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, _str(name))


def ioprio_set(which, who, ioprio):
    syscall("ioprio_set", which, who, ioprio)


def sched_setattr(pid, policy, flags=0, nice=0, priority=0, runtime=0, deadline=0, period=0):
    attr = ffi.new("struct sched_attr *", {
        "size": ffi.sizeof("struct sched_attr"), "sched_policy": policy, "sched_flags": flags,
        "sched_nice": nice, "sched_priority": priority, "sched_runtime": runtime,
        "sched_deadline": deadline, "sched_period": period})
    syscall("sched_setattr", pid, attr, 0)


def set_mempolicy(mode, nodes):
    """mode may carry MPOL_F_* flags; nodes: a set of NUMA node numbers."""
    words = max(nodes, default=0) // 64 + 1
    mask = ffi.new("unsigned long[]", words)
    for node in nodes:
        mask[node // 64] |= 1 << (node % 64)
    syscall("set_mempolicy", mode, mask if nodes else ffi.NULL, words * 64 if nodes else 0)


def capset(effective, permitted, inheritable):
    """Set the three per-thread capability sets from 64-bit masks (version 3 ABI)."""
    header = ffi.new("struct cap_header *", {"version": 0x20080522, "pid": 0})
    data = ffi.new("struct cap_data[2]")
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    syscall("capset", header, data)


def capget():
    """Return (effective, permitted, inheritable) 64-bit masks of this thread."""
    header = ffi.new("struct cap_header *", {"version": 0x20080522, "pid": 0})
    data = ffi.new("struct cap_data[2]")
    syscall("capget", header, data)
    def join(field):
        return getattr(data[0], field) | (getattr(data[1], field) << 32)
    return join("effective"), join("permitted"), join("inheritable")


# The new mount API (fsopen/fsconfig/fsmount): overlayfs's `lowerdir+` key takes one layer per
# call, so images with hundreds of layers never hit the one-page limit of mount(2)'s data.
FSOPEN_CLOEXEC = 0x1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x1


def fsopen(fstype, flags=FSOPEN_CLOEXEC):
    return syscall("fsopen", _str(fstype), flags, path=fstype)


def fsconfig(fsfd, cmd, key=None, value=None):
    syscall("fsconfig", fsfd, cmd, _str(key), _str(value), 0, path=key)


def fsmount(fsfd, flags=FSMOUNT_CLOEXEC, attr_flags=0):
    return syscall("fsmount", fsfd, flags, attr_flags)
