"""Reading and writing cgroup files, shared by the v1 and v2 backends."""

import errno
import os
import time

from pybox.errors import PyboxError


def put(directory, name, value):
    """Write value to a cgroup file in one write(2), as the kernel wants; raises OSError."""
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def write(directory, name, value, field):
    """put(), with a failure naming the linux.resources field that asked for it."""
    try:
        put(directory, name, value)
    except FileNotFoundError:
        raise PyboxError(f"linux.resources.{field}: {name} does not exist in {directory} "
                         f"(controller not available)", errno.ENOENT) from None
    except OSError as err:
        raise PyboxError(f"linux.resources.{field}: writing {value!r} to {name}: {err.strerror}",
                         err.errno) from None


def add_process(directory, pid):
    try:
        put(directory, "cgroup.procs", pid)
    except OSError as err:
        raise PyboxError(f"add process {pid} to cgroup {directory}: {err.strerror}", err.errno) from None


def read(directory, name, default=None):
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return default


def read_int(directory, name, default=0):
    """An integer file; "max" reads as -1."""
    text = read(directory, name)
    if text is None or text == "":
        return default
    return -1 if text == "max" else int(text)


def read_keyed(directory, name):
    """A flat keyed file ("key value" per line) such as memory.stat or cpu.stat."""
    values = {}
    for line in (read(directory, name) or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            values[key] = int(value)
        except ValueError:
            continue
    return values


def exists(directory, name=""):
    return os.path.exists(os.path.join(directory, name))


def procs(directory):
    """Every pid in directory and the cgroups below it."""
    found = []
    for dirpath, _, _ in os.walk(directory):
        for line in (read(dirpath, "cgroup.procs") or "").split():
            found.append(int(line))
    return sorted(set(found))


def make_dirs(path, created, attempts=5):
    """mkdir -p path, appending each directory it made to created (outermost first); returns
    those it made, outermost first. mkdir is tried before any stat: most often only the last
    level is missing. Retried when a parent vanishes midway: another container's destroy may
    remove a shared parent."""
    for _ in range(attempts):
        try:
            return _make_path(path, created)
        except FileNotFoundError:
            continue
    raise PyboxError(f"create cgroup {path}: a parent kept disappearing")


def _make_path(path, created):
    missing = []  # innermost first
    probe = path
    while True:
        try:
            os.mkdir(probe, 0o755)
            created.append(probe)
            made = [probe]
            break
        except FileExistsError:
            made = []
            break
        except FileNotFoundError:
            missing.append(probe)
            probe = os.path.dirname(probe)
            if probe in ("/", ""):
                raise PyboxError(f"create cgroup {path}: no such hierarchy") from None
        except OSError as err:
            raise PyboxError(f"create cgroup {probe}: {err.strerror}", err.errno) from None
    for directory in reversed(missing):
        _mkdir(directory, created)
        made.append(directory)
    return made


def _mkdir(directory, created):
    try:
        os.mkdir(directory, 0o755)
        created.append(directory)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise
    except OSError as err:
        raise PyboxError(f"create cgroup {directory}: {err.strerror}", err.errno) from None


def remove_tree(path, timeout=5.0):
    """rmdir path and any cgroups below it, retrying while exiting processes drain out."""
    try:
        os.rmdir(path)  # most often nothing is below it and nothing is left in it
        return
    except FileNotFoundError:
        return
    except OSError as err:
        if err.errno != errno.EBUSY:
            raise PyboxError(f"remove cgroup {path}: {err.strerror}", err.errno) from None
    for directory in reversed([d for d, _, _ in os.walk(path)]):
        _rmdir_retrying(directory, timeout)


def _rmdir_retrying(directory, timeout):
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise PyboxError(f"remove cgroup {directory}: {err.strerror}", err.errno) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def remove_empty(directories):
    """Remove parents pybox created, innermost first, if nothing else lives in them."""
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except OSError:
            pass  # in use by another container, or already gone


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not predicate():
        if time.monotonic() > deadline:
            raise PyboxError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def enable_controllers(directory, wanted=None):
    """Make the controllers available to directory's children: +ctrl in the subtree_control of
    every ancestor from the hierarchy root down to directory. A failure (a cgroup that holds
    processes cannot delegate, say) is left for apply() to report when a limit needs it."""
    chain = [directory]
    while exists(chain[-1], "cgroup.type"):  # the root cgroup has no cgroup.type
        chain.append(os.path.dirname(chain[-1]))
    for level in reversed(chain):
        available = (read(level, "cgroup.controllers") or "").split()
        enabled = set((read(level, "cgroup.subtree_control") or "").split())
        for controller in available:
            if (wanted is None or controller in wanted) and controller not in enabled:
                try:
                    put(level, "cgroup.subtree_control", "+" + controller)
                except OSError:
                    pass
