"""The cgroup helper thread: pays for the first migration early, and makes directories meanwhile.

Every move into a cgroup (v1 or v2) takes the kernel's global cgroup_threadgroup_rwsem for
writing. The first writer after a quiet spell waits out an RCU grace period (rcu_sync_enter:
6-18 ms on this host, longer when the CPUs are busy); writers that follow within about one grace
period pass at once. runc and crun pay that wait in the middle of every create, after the init
exists, and hold the cgroup mutex meanwhile.

pybox pays it while it is still loading code: a thread moves this process into the cgroup it is
already in (a no-op that takes the same lock) as the command starts, and repeats every few ms so
the lock stays warm until the init's real migration is done. Between writes it runs jobs handed
to it with submit(): making the container's cgroup directories (38 mkdirs for a deep path on v1)
then overlaps the main thread's imports and the fork. The thread and its jobs import nothing (a
fork while the thread held an import lock would leave the child stuck on it); a failed write only
ends the warming, it is never more than an optimisation.
"""

import _thread
import os
import sys
import time

from pybox.cgroups import hierarchy
from pybox.errors import PyboxError

_INTERVAL = 0.002  # well inside one grace period
_GIVE_UP = 1.0  # seconds; a create slower than this is waiting on something else
_SWITCH = 0.0001  # while a job runs, so it gets the GIL back soon after each syscall

_helper = None
_DEFAULT_SWITCH = sys.getswitchinterval()


class Job:
    """fn() run once, by the helper thread or by whoever waits for it first."""

    def __init__(self, fn):
        self._fn = fn
        self._claim = _thread.allocate_lock()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._error = None

    def run(self):
        if not self._claim.acquire(False):
            return
        try:
            self._fn()
        except BaseException as err:  # noqa: BLE001 — re-raised in the waiting thread
            self._error = err
        finally:
            self._done.release()

    def wait(self):
        """Return once fn has run (running it here if the helper has not started it)."""
        self.run()
        with self._done:
            pass
        if self._error is not None:
            raise self._error


class _Helper:
    def __init__(self, procs):
        self.procs = procs
        self.jobs = []
        self.stopping = False
        self.wake = _thread.allocate_lock()
        self.wake.acquire()

    def loop(self):
        pid = str(os.getpid()).encode()
        deadline = time.monotonic() + _GIVE_UP
        warming = True
        while True:
            if warming and not self.stopping:
                warming = self._write(pid)
            if self.jobs:
                while self.jobs:
                    self.jobs.pop(0).run()
                sys.setswitchinterval(_DEFAULT_SWITCH)  # the main thread has the GIL to itself again
            if self.stopping or time.monotonic() > deadline:
                return
            self.wake.acquire(timeout=_INTERVAL)

    def _write(self, pid):
        try:
            fd = os.open(self.procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
            return True
        except OSError:  # no permission, a read-only mount: no warming
            return False

    def poke(self):
        try:
            self.wake.release()
        except RuntimeError:
            pass  # already awake


def start():
    """Start the helper thread (idempotent)."""
    global _helper
    if _helper is not None:
        return
    try:
        procs = _own_procs_file()
    except (OSError, PyboxError):
        return
    _helper = _Helper(procs)
    _thread.start_new_thread(_helper.loop, ())
    # Hand the thread the GIL now: it gives it back as soon as it enters the kernel, whereas
    # waiting for the interpreter's switch interval could cost it milliseconds.
    os.sched_yield()


def submit(fn):
    """A Job for fn: run by the helper thread if there is one, else by Job.wait()."""
    job = Job(fn)
    if _helper is not None:
        sys.setswitchinterval(_SWITCH)
        _helper.jobs.append(job)
        _helper.poke()
    return job


def stop():
    """The real migrations are done: let the thread end."""
    global _helper
    if _helper is not None:
        _helper.stopping = True
        _helper.poke()
        _helper = None
        sys.setswitchinterval(_DEFAULT_SWITCH)


def _own_procs_file():
    _, hierarchies, own = hierarchy.snapshot()
    key, found = next(iter(hierarchies.items()))
    return os.path.join(found.host_dir(own.get(key, "/")), "cgroup.procs")
