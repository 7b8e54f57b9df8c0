"""Run a few lines inside another network namespace and come back.

setns(CLONE_NEWNET) moves only the calling thread; a socket keeps the namespace it was created
in, so opening a socket inside and leaving straight away is all netlink or ioctl work needs.
"""

import os

from pybox import kernel


def netns_path(netns):
    """A pid stands for the network namespace of that process."""
    return f"/proc/{netns}/ns/net" if isinstance(netns, int) else os.fspath(netns)


class entered:
    """Context manager: this thread is in the network namespace at `path` until exit."""

    def __init__(self, path):
        self.path = netns_path(path)
        self.home = None

    def __enter__(self):
        target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            kernel.setns(target, kernel.CLONE_NEWNET)
        except BaseException:
            self._close_home()
            raise
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        try:
            kernel.setns(self.home, kernel.CLONE_NEWNET)
        finally:
            self._close_home()

    def _close_home(self):
        if self.home is not None:
            os.close(self.home)
            self.home = None
