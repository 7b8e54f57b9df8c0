"""Copying an image's VOLUME contents into an anonymous volume, and removing such a tree.

As docker does (containerd's continuity fs.CopyDir): regular files are copied, directories
recreated, symlinks stay symlinks, device nodes, FIFOs and sockets are recreated with mknod and
never opened, hard links within the tree stay links; owner, mode, times and xattrs are kept.
The walk holds two directory fds whatever the depth (it climbs back with ".."), and no recursion.
"""

import os
import stat

from pybox.errors import PyboxError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Frame:
    """A directory being copied: what is left of its entries and its own metadata."""

    __slots__ = ("name", "st", "names", "src", "dst")

    def __init__(self, name, st, src, dst):
        self.name, self.st, self.src, self.dst = name, st, src, dst
        self.names = sorted(os.listdir(src), reverse=True)


def copy_tree(src_fd, dst_fd):
    """Copy the directory src_fd's contents into the (empty) directory dst_fd, and its metadata."""
    links = {}  # (dev, ino) of a multiply-linked file -> its path in the copy, for os.link
    stack = [_Frame("", os.fstat(src_fd), os.dup(src_fd), os.dup(dst_fd))]
    top_dst = os.dup(dst_fd)
    try:
        while stack:
            top = stack[-1]
            if not top.names:
                _keep_metadata(top.dst, top.st, None)
                _keep_xattrs(top.src, top.dst)
                stack.pop()
                if stack:
                    _climb(top, stack[-1])
                else:
                    os.close(top.src)
                    os.close(top.dst)
                continue
            name = top.names.pop()
            st = os.stat(name, dir_fd=top.src, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                stack.append(_descend(top, name, st))
            else:
                _copy_entry(top, name, st, links, stack, top_dst)
    except BaseException:
        for frame in stack:
            for fd in (frame.src, frame.dst):
                if fd is not None:
                    os.close(fd)
        raise
    finally:
        os.close(top_dst)


def _descend(parent, name, st):
    os.mkdir(name, 0o700, dir_fd=parent.dst)
    src = os.open(name, _DIR, dir_fd=parent.src)
    if os.fstat(src).st_ino != st.st_ino:
        os.close(src)
        raise PyboxError(f"{name}: the image's directory changed while it was copied")
    try:
        dst = os.open(name, _DIR, dir_fd=parent.dst)
    except BaseException:
        os.close(src)
        raise
    frame = _Frame(name, st, src, dst)
    for fd in (parent.src, parent.dst):
        os.close(fd)
    parent.src = parent.dst = None
    return frame


def _climb(child, parent):
    """Back to parent's directories through "..", checked against the child's own fds."""
    parent.src = os.open("..", _DIR, dir_fd=child.src)
    parent.dst = os.open("..", _DIR, dir_fd=child.dst)
    os.close(child.src)
    os.close(child.dst)
    child.src = child.dst = None
    if (os.fstat(parent.src).st_ino, os.fstat(parent.src).st_dev) != (parent.st.st_ino, parent.st.st_dev):
        raise PyboxError("the image's directory tree changed while it was copied")


def _copy_entry(frame, name, st, links, stack, top_dst):
    mode = st.st_mode
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and not stat.S_ISLNK(mode) and key in links:
        try:
            os.link(links[key], name, src_dir_fd=top_dst, dst_dir_fd=frame.dst,
                    follow_symlinks=False)
            return
        except OSError:
            pass  # too deep a path to name: a copy of its own
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=frame.src), name, dir_fd=frame.dst)
    elif stat.S_ISREG(mode):
        _copy_file(frame, name, st)
    else:  # character and block devices, FIFOs, sockets: recreated, never opened
        os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=frame.dst)
    _keep_metadata(frame.dst, st, name)
    if st.st_nlink > 1 and not stat.S_ISLNK(mode):
        links.setdefault(key, "/".join([f.name for f in stack[1:]] + [name]))


def _copy_file(frame, name, st):
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=frame.src)
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise PyboxError(f"{name}: the image's file changed while it was copied")
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600, dir_fd=frame.dst)
        try:
            offset = 0
            while offset < st.st_size:
                sent = os.sendfile(dst, src, offset, st.st_size - offset)
                if sent == 0:
                    break
                offset += sent
            _keep_xattrs(src, dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _keep_metadata(dir_fd, st, name):
    """Owner, then mode (chown clears set-id bits), then times; name None: dir_fd itself."""
    target = dir_fd if name is None else name
    at = {} if name is None else {"dir_fd": dir_fd, "follow_symlinks": False}
    os.chown(target, st.st_uid, st.st_gid, **at)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode), **({} if name is None else {"dir_fd": dir_fd}))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), **at)


def _keep_xattrs(src, dst):
    try:
        names = os.listxattr(src)
    except OSError:
        return
    for attr in names:
        try:
            os.setxattr(dst, attr, os.getxattr(src, attr))
        except OSError:
            pass  # a filesystem without that namespace: docker ignores these too

