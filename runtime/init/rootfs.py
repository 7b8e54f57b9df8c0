"""The container's root filesystem: propagation, mounts, devices, pivot_root, masked/readonly paths.

Runs in the container init (its own mount namespace), in runtime-spec order.
"""

import errno
import os
import stat

from pybox import kernel as k
from pybox.errors import PyboxError, from_oserror
from pybox.runtime.init.mountopts import parse_options
from pybox.runtime.init.paths import fd_path, is_dir_fd, make_in_root, open_in_root

DEFAULT_DEVICES = [  # (name, major, minor): what runc creates in every container
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
]
DEV_SYMLINKS = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
                ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx")]
# Files below /proc that a bind mount may cover (lxcfs and the like); nothing else is mounted in /proc.
PROC_BIND_ALLOWED = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                     "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
                     "/proc/sys/kernel/ns_last_pid"}
_PROPAGATION_FLAGS = {"shared": k.MS_SHARED, "slave": k.MS_SLAVE, "private": k.MS_PRIVATE,
                      "unbindable": k.MS_UNBINDABLE}


def prepare_root(rootfs, propagation):
    """Stop our mounts reaching the host, then make the rootfs a mount point of its own."""
    try:
        k.mount(None, "/", None, _propagation(propagation or "rslave"))
    except OSError as err:
        raise from_oserror(err, f"make / {propagation or 'rslave'} (linux.rootfsPropagation)") from None
    try:
        if propagation:
            # A shared parent would make pivot_root fail (and our binds reach its peers); an
            # unbindable one would refuse the bind below. The rootfs gets `propagation` once it is /.
            _make_parent_mount_private(rootfs)
        k.mount(rootfs, rootfs, None, k.MS_BIND | k.MS_REC)
        return os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise from_oserror(err, f"bind the rootfs {rootfs} (root.path)") from None


def _make_parent_mount_private(path):
    while True:
        try:
            k.mount(None, path, None, k.MS_PRIVATE)
            return
        except OSError as err:
            if err.errno != errno.EINVAL or path == "/":  # EINVAL: not the root of a mount
                raise
        path = os.path.dirname(path)


def apply_root_propagation(propagation):
    """rootfsPropagation, on the container's / (as runc does, after pivot_root)."""
    if propagation and "private" not in propagation:
        try:
            k.mount(None, "/", None, _propagation(propagation))
        except OSError as err:
            raise from_oserror(err, f"make / {propagation} (linux.rootfsPropagation)") from None


def _propagation(name):
    rec = k.MS_REC if name.startswith("r") and name[1:] in _PROPAGATION_FLAGS else 0
    return _PROPAGATION_FLAGS[name[1:] if rec else name] | rec


def is_cgroup_mount(m):
    return m.type in ("cgroup", "cgroup2")


def mount_all(root_fd, mounts, ctx, deferred_cgroup):
    """Mount config.mounts (view.Views) in order; cgroup mounts wait when deferred
    (InitContext.cgroup_mounts_at)."""
    for i, m in enumerate(mounts):
        if deferred_cgroup and is_cgroup_mount(m):
            continue
        try:
            mount_one(root_fd, m, ctx)
        except OSError as err:
            raise from_oserror(err, f"mount {m.destination} (mounts[{i}])") from None
        except PyboxError as err:
            raise err.within(f"mount {m.destination} (mounts[{i}])") from None


def mount_one(root_fd, m, ctx):
    opts = parse_options(m.options)
    kind = m.type or ("bind" if opts.is_bind else None)
    dest = m.destination
    _refuse_inside_proc(dest, kind, opts)
    if kind == "bind" or opts.is_bind:
        return _bind(root_fd, m, opts, ctx)
    if is_cgroup_mount(m):
        return mount_cgroup(root_fd, dest, opts, ctx)
    if kind == "proc":
        _refuse_symlinked(root_fd, dest)
    target = make_in_root(root_fd, dest, directory=True)
    try:
        k.mount(m.source or kind, fd_path(target), kind, opts.flags & ~k.MS_RDONLY
                if opts.copy_up else opts.flags, opts.data_string)
        if opts.copy_up:
            # The fd still names the directory the tmpfs now covers: copy it up, then seal.
            _copy_up(fd_path(target), root_fd, dest)
    finally:
        os.close(target)
    if opts.copy_up and opts.flags & k.MS_RDONLY:
        _finish(root_fd, dest, opts, k.MS_RDONLY | (opts.flags & ~(k.MS_BIND | k.MS_REC | k.MS_REMOUNT)))
        return
    _finish(root_fd, dest, opts)


def _copy_up(covered, root_fd, dest):
    """tmpcopyup: the new tmpfs starts with the files, modes and owners it covers."""
    import shutil
    mounted = open_in_root(root_fd, dest)
    try:
        target = fd_path(mounted)
        shutil.copytree(covered, target, symlinks=True, dirs_exist_ok=True)
        for top, dirs, names in os.walk(covered):
            for name in dirs + names:
                st = os.lstat(os.path.join(top, name))
                os.lchown(os.path.join(target, os.path.relpath(top, covered), name), st.st_uid, st.st_gid)
        st = os.stat(covered)
        os.chmod(target, st.st_mode & 0o7777)
        os.chown(target, st.st_uid, st.st_gid)
    finally:
        os.close(mounted)


def _refuse_inside_proc(dest, kind, opts):
    norm = os.path.normpath(dest)
    if norm == "/proc":
        if kind != "proc":
            raise PyboxError("only a proc filesystem may be mounted at /proc")
    elif norm.startswith("/proc/") and not (opts.is_bind and norm in PROC_BIND_ALLOWED):
        raise PyboxError(f"{dest}: mounts inside /proc are refused (only {', '.join(sorted(PROC_BIND_ALLOWED))})")


def _refuse_symlinked(root_fd, dest):
    """A /proc that is a symlink could point procfs somewhere an LSM would not look (CVE-2019-16884)."""
    try:
        fd = k.openat2(root_fd, dest.lstrip("/"), os.O_PATH, resolve=k.RESOLVE_IN_ROOT | k.RESOLVE_NO_SYMLINKS)
    except FileNotFoundError:
        return
    except OSError as err:
        if err.errno == 40:  # ELOOP: a symlink on the way
            raise PyboxError(f"{dest} is a symlink in the rootfs; refusing to mount proc there") from None
        raise
    os.close(fd)


def _idmapped_bind(source, target_fd, recursive, userns_fd):
    """A detached copy of the source tree, id-mapped through userns_fd, then attached."""
    rec = k.AT_RECURSIVE if recursive else 0
    tree = k.open_tree(k.AT_FDCWD, source, k.OPEN_TREE_CLONE | k.OPEN_TREE_CLOEXEC | rec)
    try:
        try:
            k.mount_setattr(tree, "", k.AT_EMPTY_PATH | rec, attr_set=k.MOUNT_ATTR_IDMAP, userns_fd=userns_fd)
        except OSError as err:
            if err.errno == errno.EINVAL:  # e.g. tmpfs before Linux 6.3
                raise PyboxError(f"{source}: its filesystem does not support id-mapped mounts") from None
            raise
        k.move_mount(tree, "", target_fd, "", k.MOVE_MOUNT_F_EMPTY_PATH | k.MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(tree)


def _bind(root_fd, m, opts, ctx):
    source = m.source
    try:
        source_is_dir = stat.S_ISDIR(os.stat(source).st_mode)
    except OSError as err:
        raise from_oserror(err, f"bind source {source}") from None
    target = make_in_root(root_fd, m.destination, directory=source_is_dir)
    try:
        if opts.idmap is None:
            k.mount(source, fd_path(target), None, k.MS_BIND | (opts.flags & k.MS_REC))
        else:
            _idmapped_bind(source, target, opts.idmap, ctx.idmap_fds[id(m.raw)])
    finally:
        os.close(target)
    remount = opts.flags & ~(k.MS_BIND | k.MS_REC | k.MS_REMOUNT)
    _finish(root_fd, m.destination, opts, remount if (remount or opts.clear) else None)


def _remount_bind(path, flags):
    """Change a bind mount's flags, keeping those the kernel locked (nodev/nosuid/noexec in a userns)."""
    locked = _statvfs_flags(path)
    k.mount(None, path, None, k.MS_BIND | k.MS_REMOUNT | flags | locked)


def _statvfs_flags(path):
    f = os.statvfs(path).f_flag
    mapping = {os.ST_NOSUID: k.MS_NOSUID, os.ST_NODEV: k.MS_NODEV, os.ST_NOEXEC: k.MS_NOEXEC}
    return sum(flag for st_flag, flag in mapping.items() if f & st_flag)


def _finish(root_fd, dest, opts, remount=None):
    """Flags, propagation and the recursive (r*) attributes apply to the mount just made.

    The fd used for mounting still names the directory beneath the new mount, so the
    destination is resolved again (inside the root) to reach the mount itself.
    """
    if remount is None and not opts.propagation and not (opts.rec_set or opts.rec_clear):
        return
    fd = open_in_root(root_fd, dest)
    try:
        if remount is not None:
            _remount_bind(fd_path(fd), remount)
        for flag in opts.propagation:
            k.mount(None, fd_path(fd), None, flag)
        if opts.rec_set or opts.rec_clear:
            k.mount_setattr(fd, "", k.AT_EMPTY_PATH | k.AT_RECURSIVE, opts.rec_set, opts.rec_clear)
    finally:
        os.close(fd)


def mount_cgroup(root_fd, dest, opts, ctx):
    """The container's view of its cgroup: by type with a cgroup namespace, else host binds."""
    plan = ctx.cgroup_plan or []
    flags = opts.flags | k.MS_NOSUID | k.MS_NODEV | k.MS_NOEXEC
    if len(plan) == 1 and plan[0].get("fstype") == "cgroup2" and not plan[0].get("subdir"):
        return _mount_cgroup_dir(root_fd, dest, plan[0], flags, ctx.cgroupns)
    base = make_in_root(root_fd, dest)
    try:
        k.mount("tmpfs", fd_path(base), "tmpfs", k.MS_NOSUID | k.MS_NODEV | k.MS_NOEXEC, "mode=755")
    finally:
        os.close(base)
    for entry in plan:
        if entry.get("symlinks"):
            _cgroup_symlinks(root_fd, dest, entry["symlinks"])
        elif entry.get("subdir"):
            _mount_cgroup_dir(root_fd, os.path.join(dest, entry["subdir"]), entry, flags, ctx.cgroupns)
    if flags & k.MS_RDONLY:
        base = open_in_root(root_fd, dest)
        try:
            k.mount(None, fd_path(base), None, k.MS_REMOUNT | k.MS_RDONLY | k.MS_NOSUID | k.MS_NODEV | k.MS_NOEXEC,
                    "mode=755")
        finally:
            os.close(base)


def _mount_cgroup_dir(root_fd, dest, entry, flags, cgroupns):
    target = make_in_root(root_fd, dest)
    try:
        if cgroupns:
            try:
                k.mount(entry["fstype"], fd_path(target), entry["fstype"], flags, entry.get("data") or None)
                return
            except OSError as err:
                # A user namespace may not mount cgroup2 over the host's (rootless, /sys bound
                # from the host): runc then binds the container's cgroup, emulating the namespace.
                if err.errno not in (errno.EPERM, errno.EBUSY):
                    raise
        try:
            k.mount(entry["host_path"], fd_path(target), None, k.MS_BIND | k.MS_REC)
        except FileNotFoundError:
            if not cgroupns:
                raise
            # runc's rootless fallback when the cgroup is out of sight (a fresh sysfs): masked.
            k.mount("tmpfs", fd_path(target), "tmpfs", k.MS_RDONLY, "size=0k")
            return
    finally:
        os.close(target)
    mounted = open_in_root(root_fd, dest)
    try:
        _remount_bind(fd_path(mounted), flags & ~k.MS_REMOUNT)
    finally:
        os.close(mounted)


def _cgroup_symlinks(root_fd, dest, links):
    base = open_in_root(root_fd, dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _symlinks(base, links.items())
    finally:
        os.close(base)


def _symlinks(dir_fd, name_targets):
    for name, target in name_targets:
        try:
            os.symlink(target, name, dir_fd=dir_fd)
        except FileExistsError:
            pass


def create_devices(root_fd, devices, in_userns):
    """Default devices, linux.devices, and /dev's symlinks; bind from the host where mknod is denied."""
    try:
        dev_dir = _open_dir_in_root(root_fd, "/dev")
    except OSError as err:
        raise from_oserror(err, "make /dev in the rootfs") from None
    try:
        for name, major, minor in DEFAULT_DEVICES:
            try:
                _device(root_fd, dev_dir, f"/dev/{name}", stat.S_IFCHR | 0o666, major, minor, 0, 0, in_userns)
            except OSError as err:
                raise from_oserror(err, f"device /dev/{name}") from None
        for i, d in enumerate(devices):  # linux.devices, as view.Views
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.type]
            mode = 0o666 if d.fileMode is None else d.fileMode
            try:
                _device(root_fd, dev_dir, d.path, kind | mode, d.major or 0, d.minor or 0, d.uid or 0,
                        d.gid or 0, in_userns)
            except OSError as err:
                raise from_oserror(err, f"device {d.path} (linux.devices[{i}])") from None
        try:
            _symlinks(dev_dir, ((name, target) for target, name in DEV_SYMLINKS))
        except OSError as err:
            raise from_oserror(err, "make the symlinks in /dev") from None
    finally:
        os.close(dev_dir)


def _device(root_fd, dev_dir, path, mode, major, minor, uid, gid, in_userns):
    """A device node at path: in /dev through dev_dir, elsewhere (runc allows any path) through
    its parent, made and resolved inside the root."""
    parent, name = os.path.split(os.path.normpath(path))
    parent_dir = dev_dir if parent == "/dev" else _open_dir_in_root(root_fd, parent)
    try:
        if in_userns:
            raise PermissionError
        os.mknod(name, mode, os.makedev(major, minor), dir_fd=parent_dir)
        os.chmod(name, mode & 0o7777, dir_fd=parent_dir)  # mknod applies the umask
        os.chown(name, uid, gid, dir_fd=parent_dir)
    except FileExistsError:
        pass
    except PermissionError:
        # In a user namespace mknod is denied: bind the host's device node instead.
        target = make_in_root(root_fd, path, directory=False)
        try:
            k.mount(path, fd_path(target), None, k.MS_BIND)
        finally:
            os.close(target)
    finally:
        if parent_dir != dev_dir:
            os.close(parent_dir)


def _open_dir_in_root(root_fd, path):
    made = make_in_root(root_fd, path)
    try:
        return os.open(fd_path(made), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(made)


def pivot_into(rootfs, no_pivot):
    """Make rootfs the container's /; the old root is detached so the host is out of reach."""
    try:
        _pivot_into(rootfs, no_pivot)
    except OSError as err:
        step = "move the rootfs to / (--no-pivot)" if no_pivot else "pivot_root into the rootfs"
        raise from_oserror(err, f"{step} {rootfs} (root.path)") from None


def _pivot_into(rootfs, no_pivot):
    os.chdir(rootfs)
    if no_pivot:
        k.mount(rootfs, "/", None, k.MS_MOVE)
        os.chroot(".")
    else:
        old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            k.pivot_root(".", ".")
            # The old root is now stacked on "/": make it (and only it: the new root's mounts keep
            # the propagation they were given, rshared volumes included) a slave, so that detaching
            # it cannot propagate to the host, then detach it. As runc: fchdir into the old root.
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        k.mount(None, ".", None, k.MS_SLAVE | k.MS_REC)
        k.umount2(".", k.MNT_DETACH)
    os.chdir("/")


def _existing(paths, field, first=0):
    """Yield (index, path, O_PATH fd) for each path that exists in the (pivoted) root; missing ones
    are skipped. Errors name the path as field[index], counting from first."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, path in enumerate(paths, first):
            try:
                fd = open_in_root(root_fd, path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as err:
                raise from_oserror(err, f"open {path} ({field}[{i}])") from None
            try:
                yield i, path, fd
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def mask_paths(paths):
    for i, path, fd in _existing(paths, "linux.maskedPaths"):
        try:
            if is_dir_fd(fd):
                k.mount("tmpfs", fd_path(fd), "tmpfs", k.MS_RDONLY, "size=0k")
            else:
                k.mount("/dev/null", fd_path(fd), None, k.MS_BIND)
        except OSError as err:
            raise from_oserror(err, f"mask {path} (linux.maskedPaths[{i}])") from None


def readonly_paths(paths):
    for i, path, fd in _existing(paths, "linux.readonlyPaths"):
        try:
            k.mount(fd_path(fd), fd_path(fd), None, k.MS_BIND | k.MS_REC)
            # Resolve again to reach the new bind mount itself rather than the directory beneath it.
            for _, _, mounted in _existing([path], "linux.readonlyPaths", i):
                _remount_bind(fd_path(mounted), k.MS_RDONLY)
        except OSError as err:
            raise from_oserror(err, f"make {path} read-only (linux.readonlyPaths[{i}])") from None


def readonly_root():
    try:
        _remount_bind("/", k.MS_RDONLY)
    except OSError as err:
        raise from_oserror(err, "remount / read-only (root.readonly)") from None


def write_sysctls(sysctl):
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as err:
            raise from_oserror(err, f"write {value!r} to {path} (linux.sysctl.{key})") from None
