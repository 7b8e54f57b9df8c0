"""Writing a file so that readers see the old content or the new, never half of either."""

import os


def write_atomic(path, data, mode=0o600):
    """Write data (str or bytes) to a temporary name beside path, fsync, rename into place.

    The temporary name is unique per process and call, so two writers (threads too) never share
    one, and a symlink planted there is not followed; on any failure (ENOSPC, a signal) it is
    removed and path keeps its old content. The file gets exactly mode, whatever the umask
    (a container's /etc/hosts must stay readable by its non-root users).
    """
    if isinstance(data, str):
        data = data.encode()
    tmp = f"{path}.tmp-{os.getpid()}-{id(data):x}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
