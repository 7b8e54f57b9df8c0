"""The pid namespace the parent enters for one fork, so that the init is born in it.

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


def enter_for_child(ctx):
    """Returns (an fd of our own pid namespace to come back to, or None; the CLONE_NEW* flags
    the child is given)."""
    path = next((p for kind, p in ctx.joins if kind == "pid"), None)
    if path is None and not ctx.new_flags & k.CLONE_NEWPID:
        return None, 0
    own = os.open("/proc/thread-self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if path is None:
            k.unshare(k.CLONE_NEWPID)
        else:
            _join(path)
    except BaseException:
        os.close(own)
        raise
    return own, k.CLONE_NEWPID


def come_back(own):
    if own is not None:
        try:
            k.setns(own, k.CLONE_NEWPID)
        finally:
            os.close(own)


def _join(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise from_oserror(err, f"open pid namespace {path}") from None
    try:
        k.setns(fd, k.CLONE_NEWPID)
    except OSError as err:
        raise from_oserror(err, f"join pid namespace {path}") from None
    finally:
        os.close(fd)
