"""The namespaces the parent enters for one fork, so that the init is born in them.

A process cannot move itself into a pid namespace, only its children. When the init is forked
directly (no user or time namespace: InitContext.forks_init_directly), the parent sets its own
pid_for_children to the container's pid namespace (unshare, or setns to a path) just for that
fork, and comes back before it does anything else.

Everything else the init enters itself: the parent's time is what a create waits for, while the
init has time to spare (a network namespace costs ~1 ms to make, and bringing lo up ~0.8 ms).
"""

import os

from pybox import kernel as k
from pybox.errors import from_oserror


class ForkNamespaces:
    def __init__(self, ctx):
        self.ctx = ctx
        self.given = 0  # the CLONE_NEW* flags of the namespaces the init is born in
        self._own = []  # (fd, flag) of the namespaces to come back to

    def enter(self):
        try:
            self._pid()
        except BaseException:
            self.leave()
            raise
        return self.given

    def leave(self):
        while self._own:
            fd, flag = self._own.pop()
            try:
                k.setns(fd, flag)
            finally:
                os.close(fd)

    def _pid(self):
        path = next((p for kind, p in self.ctx.joins if kind == "pid"), None)
        if path is None and not self.ctx.new_flags & k.CLONE_NEWPID:
            return
        self._remember("pid", k.CLONE_NEWPID)
        if path is None:
            k.unshare(k.CLONE_NEWPID)
        else:
            _join(path, "pid", k.CLONE_NEWPID)
        self.given |= k.CLONE_NEWPID

    def _remember(self, name, flag):
        self._own.append((os.open(f"/proc/thread-self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag))


def _join(path, kind, flag):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise from_oserror(err, f"open {kind} namespace {path}") from None
    try:
        k.setns(fd, flag)
    except OSError as err:
        raise from_oserror(err, f"join {kind} namespace {path}") from None
    finally:
        os.close(fd)
