"""The container rootfs: an overlay of the shared image layers plus a private upper directory.

Mounted with the new mount API: each layer is one fsconfig `lowerdir+` call (Linux 6.8+), so an
image with hundreds of layers never hits the one-page limit on mount(2)'s option string. Older
kernels get mount(2) with short names: numbered symlinks to the layers, reached through
/proc/self/fd, about 20 bytes a layer, so some 200 layers fit.

In a user namespace (an ordinary user's engine) the mount has `userxattr`: overlayfs keeps its
markers in user.overlay.* there, trusted.* being the host root's (images/unpack.py writes them so).
Where the kernel refuses overlayfs in a user namespace (EPERM, EINVAL or ENODEV: before 5.11, a
distribution's policy, an upper directory on FUSE), or PYBOX_ROOTLESS_OVERLAY=fuse asks for it,
fuse-overlayfs mounts the same directories instead, as podman does: run in the caller's (the
pause process's) namespaces, it puts itself in the background once mounted and exits when the
mount is unmounted.
"""

import errno
import os

from pybox import kernel
from pybox.errors import PyboxError, from_oserror
from pybox.userns import in_user_namespace

AT_FDCWD = -100
PAGE = 4096
OVERLAY_ENV = "PYBOX_ROOTLESS_OVERLAY"  # "fuse": fuse-overlayfs in a user namespace, always
FUSE_OVERLAYFS = "fuse-overlayfs"
FUSE_TYPE = "fuse.fuse-overlayfs"


def mount_overlay(lower_dirs, upper, work, target):
    """lower_dirs: bottom layer first, as in an image manifest."""
    if not lower_dirs:
        raise PyboxError("cannot mount a rootfs: the image has no layers")
    rootless = in_user_namespace()
    asked = os.environ.get(OVERLAY_ENV, "")
    if rootless and asked not in ("", "fuse"):
        raise PyboxError(f"mount overlay rootfs: {OVERLAY_ENV}={asked!r}: expected 'fuse' or nothing")
    if rootless and asked == "fuse":
        return mount_fuse(lower_dirs, upper, work, target)
    try:
        try:
            mount_with_fsconfig(lower_dirs, upper, work, target)
        except OSError as err:
            if err.errno != errno.EINVAL:  # EINVAL: a kernel without `lowerdir+`
                raise
            mount_with_links(lower_dirs, upper, work, target)
    except OSError as err:
        if rootless and err.errno in (errno.EPERM, errno.EINVAL, errno.ENODEV):
            return mount_fuse(lower_dirs, upper, work, target)
        raise from_oserror(err, f"mount overlay rootfs at {target}") from None


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
    finally:
        os.close(fd)


def find_fuse_overlayfs():
    import shutil
    return shutil.which(FUSE_OVERLAYFS) or shutil.which(FUSE_OVERLAYFS, path="/usr/bin:/usr/sbin:/bin:/sbin")


def mount_fuse(lower_dirs, upper, work, target):
    """fuse-overlayfs over the same directories: its option string names every layer, so a
    path with ',' or ':' cannot be given (the store's never have them)."""
    import subprocess
    import tempfile
    binary = find_fuse_overlayfs()
    if binary is None:
        raise PyboxError(f"mount overlay rootfs at {target}: the kernel refuses overlayfs in this "
                         "user namespace and fuse-overlayfs is not installed")
    paths = [*lower_dirs, upper, work]
    bad = next((p for p in paths if "," in p or ":" in p), None)
    if bad is not None:
        raise PyboxError(f"mount overlay rootfs at {target}: fuse-overlayfs cannot name {bad!r} "
                         "(',' or ':' in the path)")
    lowers = ":".join(reversed(lower_dirs))  # the top layer first, as overlayfs
    argv = [binary, "-o", f"lowerdir={lowers},upperdir={upper},workdir={work}", target]
    with tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=err, timeout=30, start_new_session=True)
        except subprocess.TimeoutExpired:
            unmount(target)
            raise PyboxError(f"mount overlay rootfs at {target}: fuse-overlayfs did not mount "
                             "in 30 s") from None
        if done.returncode != 0:
            err.seek(0)
            lines = [line for line in err.read().decode(errors="replace").splitlines()
                     if line.strip() and "unknown argument ignored" not in line]
            raise PyboxError(f"mount overlay rootfs at {target}: fuse-overlayfs: "
                             f"{lines[-1] if lines else f'exit status {done.returncode}'}")


def fuse_mounts(below):
    """Mount points of fuse-overlayfs below the directory `below`, in this mount namespace."""
    found = []
    prefix = below.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            rest = fields[fields.index("-") + 1:]
            point = unescape(fields[4])
            if rest and rest[0] == FUSE_TYPE and point.startswith(prefix):
                found.append(point)
    return found


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
