"""The container rootfs: an overlay of the shared image layers plus a private upper directory.

Mounted with the new mount API: each layer is one fsconfig `lowerdir+` call (Linux 6.8+), so an
image with hundreds of layers never hits the one-page limit on mount(2)'s option string. Older
kernels get mount(2) with short names: numbered symlinks to the layers, reached through
/proc/self/fd, about 20 bytes a layer, so some 200 layers fit.

In a user namespace (an ordinary user's engine) the mount has `userxattr`: overlayfs keeps its
markers in user.overlay.* there, trusted.* being the host root's (images/unpack.py writes them so).
"""

import errno
import os

from pybox import kernel
from pybox.errors import PyboxError, from_oserror
from pybox.userns import in_user_namespace

AT_FDCWD = -100
PAGE = 4096


def mount_overlay(lower_dirs, upper, work, target):
    """lower_dirs: bottom layer first, as in an image manifest."""
    if not lower_dirs:
        raise PyboxError("cannot mount a rootfs: the image has no layers")
    try:
        mount_with_fsconfig(lower_dirs, upper, work, target)
    except OSError as err:
        if err.errno != errno.EINVAL:  # EINVAL: a kernel without `lowerdir+`
            raise from_oserror(err, f"mount overlay rootfs at {target}") from None
        mount_with_links(lower_dirs, upper, work, target)


def mount_with_fsconfig(lower_dirs, upper, work, target):
    fsfd = kernel.fsopen("overlay")
    try:
        kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "source", "pybox")
        for lower in reversed(lower_dirs):  # overlayfs lists the top layer first
            kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "lowerdir+", lower)
        kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "upperdir", upper)
        kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_STRING, "workdir", work)
        if in_user_namespace():
            kernel.fsconfig(fsfd, kernel.FSCONFIG_SET_FLAG, "userxattr")
        kernel.fsconfig(fsfd, kernel.FSCONFIG_CMD_CREATE)
        mntfd = kernel.fsmount(fsfd)
        try:
            kernel.move_mount(mntfd, "", AT_FDCWD, target, kernel.MOVE_MOUNT_F_EMPTY_PATH)
        finally:
            os.close(mntfd)
    finally:
        os.close(fsfd)


def mount_with_links(lower_dirs, upper, work, target):
    """mount(2) for kernels before 6.8; the links live beside upper/ and go with the container."""
    links = os.path.join(os.path.dirname(upper), "l")
    os.makedirs(links, exist_ok=True)
    for i, lower in enumerate(reversed(lower_dirs)):
        name = os.path.join(links, str(i))
        if not os.path.islink(name):
            os.symlink(lower, name)
    fd = os.open(links, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        lowers = ":".join(f"/proc/self/fd/{fd}/{i}" for i in range(len(lower_dirs)))
        data = f"lowerdir={lowers},upperdir={upper},workdir={work}"
        if in_user_namespace():
            data += ",userxattr"
        if len(data) >= PAGE:
            raise PyboxError(f"image has {len(lower_dirs)} layers, more than this kernel's overlay "
                             "mount options can name (Linux 6.8 and later have no such limit)")
        kernel.mount("pybox", target, "overlay", 0, data)
    except OSError as err:
        raise from_oserror(err, f"mount overlay rootfs at {target}") from None
    finally:
        os.close(fd)


def unmount(target):
    """Detach the mount at target (every one stacked there) if there is one. The kernel says
    EINVAL for a path that is no mount point: reading /proc/self/mountinfo to ask first cost a
    read of every mount on the host per call, quadratic for a bench of thousands."""
    while True:
        try:
            kernel.umount2(target, kernel.MNT_DETACH)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return
            if err.errno == errno.EINVAL and not os.path.ismount(target):
                return
            raise


def unescape(field):
    """A mountinfo path field as it is: the kernel writes space, tab, newline and backslash
    as \\040, \\011, \\012 and \\134."""
    if "\\" not in field:
        return field
    parts = field.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        code = part[:3]
        if len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)
