"""Small file helpers of the store: atomic writes and flock-based locks."""

import os


def write_atomic(path, data, mode=0o600):
    """Write to a temporary name in the same directory, fsync, then rename into place."""
    tmp = f"{path}.tmp-{os.getpid()}-{id(data):x}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class FileLock:
    """An flock on a lock file; separate opens contend, so threads of one process do too."""

    def __init__(self, path, shared=False):
        self.path = path
        self.shared = shared
        self.fd = None

    def __enter__(self):
        import fcntl
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock
        self.fd = None
