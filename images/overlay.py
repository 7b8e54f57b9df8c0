"""The container rootfs: an overlay of the shared image layers plus a private upper directory.

Mounted with the new mount API: each layer is one fsconfig `lowerdir+` call, so an image with
hundreds of layers never hits the one-page limit on mount(2)'s option string.
"""

import os

from pybox import kernel
from pybox.errors import PyboxError, from_oserror

AT_FDCWD = -100


def mount_overlay(lower_dirs, upper, work, target):
    """lower_dirs: bottom layer first, as in an image manifest."""
    if not lower_dirs:
        raise PyboxError("cannot mount a rootfs: the image has no layers")
    fsfd = None
    try:
        fsfd = kernel.fsopen("overlay")
        kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "source", "pybox")
        for lower in reversed(lower_dirs):  # overlayfs lists the top layer first
            kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "lowerdir+", lower)
        kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "upperdir", upper)
        kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "workdir", work)
        kernel.fsconfig(fsfd, kernel.FSCONFIG_CMD_CREATE)
        mntfd = kernel.fsmount(fsfd)
        try:
            kernel.move_mount(mntfd, "", AT_FDCWD, target, kernel.MOVE_MOUNT_F_EMPTY_PATH)
        finally:
            os.close(mntfd)
    except OSError as err:
        raise from_oserror(err, f"mount overlay rootfs at {target}") from None
    finally:
        if fsfd is not None:
            os.close(fsfd)


def unmount(target):
    """Detach the mount at target if there is one."""
    while is_mountpoint(target):
        kernel.umount2(target, kernel.MNT_DETACH)


def is_mountpoint(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)
