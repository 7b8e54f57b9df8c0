"""Paths inside the container's root, resolved so that no symlink can lead outside it.

A hostile image can make /proc or a mount destination a symlink to a host path (CVE-2021-30465
and friends). Every destination is opened with openat2(RESOLVE_IN_ROOT) relative to an fd of the
rootfs, created component by component the same way, and mounted on through /proc/self/fd/N, so
the kernel acts on exactly the inode that was resolved inside the root.
"""

import os
import stat

from pybox import kernel as k

O_PATH = os.O_PATH | os.O_CLOEXEC
_RESOLVE = k.RESOLVE_IN_ROOT | k.RESOLVE_NO_MAGICLINKS


def open_in_root(root_fd, path, flags=O_PATH):
    return k.openat2(root_fd, path.lstrip("/") or ".", flags, resolve=_RESOLVE)


def make_in_root(root_fd, path, directory=True, mode=0o755):
    """Open path (O_PATH) inside the root, creating it and its missing parents first."""
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    parent, name = os.path.split(path.rstrip("/"))
    parent_fd = make_in_root(root_fd, parent or "/", True)
    try:
        dir_fd = os.open(fd_path(parent_fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(parent_fd)
    try:
        if directory:
            os.mkdir(name, mode, dir_fd=dir_fd)
        else:
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=dir_fd))
    except FileExistsError:
        pass
    finally:
        os.close(dir_fd)
    return open_in_root(root_fd, path)


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


def is_dir_fd(fd):
    return stat.S_ISDIR(os.fstat(fd).st_mode)
