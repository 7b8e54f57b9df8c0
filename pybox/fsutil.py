"""Writing a file so that readers see the old content or the new, never half of either."""

import os


def write_atomic(path, data, mode=0o600, durable=False):
    """Write data (str or bytes) to a temporary name beside path and rename it into place.

    The rename alone keeps readers from seeing half a file. durable=True also fsyncs before it,
    for files a crash must not leave empty (the image store's blobs and index); state and
    metadata rewritten on every command skip it: it would cost each of them a disk flush.

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
            if durable:
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
