"""Paying for the first cgroup migration before it is needed.

Every move into a cgroup (v1 or v2) takes the kernel's global cgroup_threadgroup_rwsem for
writing. The first writer after a quiet spell waits out an RCU grace period (rcu_sync_enter:
6-18 ms on this host, longer when the CPUs are busy); writers that follow within about one grace
period pass at once. runc and crun pay that wait in the middle of every create, after the init
exists, and hold the cgroup mutex meanwhile.

pybox pays it while it is still loading code: a thread moves this process into the cgroup it is
already in (a no-op that takes the same lock) as the command starts, and repeats every few ms so
the lock stays warm until the init's real migration is done. The thread imports nothing (a fork
while it held an import lock would leave the child stuck on it) and gives up at the first error:
this is only ever an optimisation.

(Making the container's directories on this thread too was tried: with the init forked directly
the parent has time to spare after the fork, and it measured no faster.)
"""

import _thread
import os
import time

from pybox.cgroups import hierarchy
from pybox.errors import PyboxError

_INTERVAL = 0.002  # well inside one grace period
_GIVE_UP = 1.0  # seconds; a create slower than this is waiting on something else

_stop = None


def start():
    """Begin keeping the migration lock warm (idempotent)."""
    global _stop
    if _stop is not None:
        return
    try:
        procs = _own_procs_file()
    except (OSError, PyboxError):
        return
    _stop = _thread.allocate_lock()
    _stop.acquire()
    _thread.start_new_thread(_keep_warm, (procs, _stop))
    # Hand the thread the GIL now: it gives it back as soon as it enters the kernel, whereas
    # waiting for the interpreter's switch interval could cost it milliseconds.
    os.sched_yield()


def stop():
    """The real migrations are done: let the thread end."""
    global _stop
    if _stop is not None:
        _stop.release()
        _stop = None


def _keep_warm(procs, stop_lock):
    pid = str(os.getpid()).encode()
    deadline = time.monotonic() + _GIVE_UP
    try:
        while time.monotonic() < deadline:
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
            if stop_lock.acquire(timeout=_INTERVAL):
                return
    except OSError:  # no permission, a read-only mount: no warm-up
        return


def _own_procs_file():
    _, hierarchies, own = hierarchy.snapshot()
    key, found = next(iter(hierarchies.items()))
    return os.path.join(found.host_dir(own.get(key, "/")), "cgroup.procs")
