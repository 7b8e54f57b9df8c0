"""Small file helpers of the store: flock-based locks, removing trees (atomic writes: pybox.fsutil)."""

import errno
import os
import stat


class FileLock:
    """An flock on a lock file; separate opens contend, so threads of one process do too."""

    def __init__(self, path, shared=False, wait=True):
        self.path = path
        self.shared = shared
        self.wait = wait  # without: BlockingIOError if another holds it
        self.fd = None

    def __enter__(self):
        import fcntl
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
                        | (0 if self.wait else fcntl.LOCK_NB))
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock
        self.fd = None


def remove_tree(path, dir_fd=None):
    """`rm -rf path`: iterative, so any depth works; never follows a symlink or crosses a mount.

    One directory fd is open at a time: it goes down by name (O_NOFOLLOW) and back up through
    "..", checked against the inode it came from, so a tree moved meanwhile stops the removal
    instead of leading it elsewhere. Directories without write or search permission are opened
    up (chmod), as rm -rf does for their owner.
    """
    path = os.path.normpath(path)
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _unlink(path, dir_fd)
        return
    parent = os.open(os.path.dirname(path) or ".", _DIR, dir_fd=dir_fd)
    try:
        _remove_dir(parent, os.path.basename(path))
    finally:
        os.close(parent)


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _remove_dir(parent, name):
    fd = _open_child(parent, name)
    if fd is None:
        return
    device = os.fstat(fd).st_dev
    frames = [[os.fstat(fd).st_ino, None, name]]  # [inode, subdirectories left, name]
    try:
        while True:
            frame = frames[-1]
            if frame[1] is None:
                frame[1] = _empty_but_subdirs(fd)
            if frame[1]:
                sub = frame[1].pop()
                child = _open_child(fd, sub)
                if child is None:
                    continue
                st = os.fstat(child)
                if st.st_dev != device:
                    os.close(child)
                    raise OSError(errno.EBUSY, "a mount point is in the way", sub)
                os.close(fd)
                fd = child
                frames.append([st.st_ino, None, sub])
                continue
            if len(frames) == 1:
                break
            up = os.open("..", _DIR, dir_fd=fd)
            if os.fstat(up).st_ino != frames[-2][0]:
                os.close(up)
                raise OSError(errno.ESTALE, "the tree was moved while being removed", frame[2])
            os.close(fd)
            fd = up
            done = frames.pop()[2]
            if not _rmdir(fd, done):
                frames[-1][1] = None  # something was added meanwhile: look again
    finally:
        os.close(fd)
    _rmdir(parent, name)


def _open_child(parent, name):
    """An fd of the directory parent/name, or None if it is gone (a non-directory is unlinked)."""
    for attempt in (0, 1):
        try:
            return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as err:
            if err.errno in (errno.ENOTDIR, errno.ELOOP):
                _unlink(name, parent)  # replaced by a file or symlink meanwhile
                return None
            if err.errno != errno.EACCES or attempt:
                raise
            _make_writable(parent, name)
    return None


def _make_writable(parent, name):
    """chmod u+rwx a directory without following a symlink (through its O_PATH fd)."""
    fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        mode = os.fstat(fd).st_mode
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(mode) | stat.S_IRWXU)
    finally:
        os.close(fd)


def _empty_but_subdirs(fd):
    """Unlink every non-directory in the directory fd; returns the names of its subdirectories."""
    subdirs = []
    for attempt in (0, 1):
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.name)
                    else:
                        _unlink(entry.name, fd)
            return subdirs
        except PermissionError:
            if attempt:
                raise
            os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | stat.S_IRWXU)
            subdirs = []
    return subdirs


def _unlink(name, dir_fd):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _rmdir(parent, name):
    """False if the directory is not empty (filled again meanwhile)."""
    try:
        os.rmdir(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno != errno.ENOTEMPTY:
            raise
        return False
    return True
