"""Namespaces the parent enters for one fork, so that the init is born in them.

When the init is forked directly (no user or time namespace: InitContext.forks_init_directly),
the parent, just for that fork:
- sets its pid_for_children to the container's pid namespace (unshare, or setns to a path): a
  process cannot move itself into a pid namespace, only its children;
- makes the container's new network namespace its own, and opens a socket there through which
  it brings `lo` up after the fork, while the init mounts its root (as runc does, a new network
  namespace gets a working loopback);
and comes back to its own namespaces before it does anything else.
"""

import _socket
import os

from pybox import kernel as k
from pybox.errors import from_oserror


class ForkNamespaces:
    def __init__(self, ctx):
        self.ctx = ctx
        self.given = 0  # the CLONE_NEW* flags of the namespaces the init is born in
        self.loopback = None  # a socket in the new network namespace
        self._own = []  # (fd, flag) of the namespaces to come back to

    def enter(self):
        try:
            self._pid()
            self._net()
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

    def _net(self):
        if not self.ctx.new_flags & k.CLONE_NEWNET:
            return  # the host's, or one joined by path (the init joins it itself)
        self._remember("net", k.CLONE_NEWNET)
        k.unshare(k.CLONE_NEWNET)  # this thread's only: the others stay where they are
        self.loopback = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        self.given |= k.CLONE_NEWNET

    def _remember(self, name, flag):
        self._own.append((os.open(f"/proc/thread-self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag))

    def bring_loopback_up(self):
        if self.loopback is not None:
            from pybox.netns.loopback import up_through
            try:
                up_through(self.loopback)
            finally:
                self.loopback.close()
                self.loopback = None


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
