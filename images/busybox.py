"""An image `busybox` built offline from Debian's busybox-static, for machines with no registry."""

import io
import os
import tarfile

BUSYBOX = "/bin/busybox"
DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root",
        "home/app", "var/tmp", "run")
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
          "app:x:1000:1000:app:/home/app:/bin/sh\n")
GROUP = "root:x:0:\ndaemon:x:1:\nwheel:x:10:app\nnogroup:x:65534:\napp:x:1000:\n"


def import_busybox(store, name="busybox", busybox=BUSYBOX):
    """Import a one-layer image `name` (docker.io/library/busybox:latest) and return it."""
    from pybox.errors import PyboxError
    from pybox.images.importer import import_rootfs_tarball
    from pybox.images.reference import parse
    if not os.path.isfile(busybox):
        raise PyboxError(f"{busybox} is missing: install Debian's busybox-static")
    with store.pulling(), store.tempdir("busybox-") as tmp:
        path = os.path.join(tmp, "rootfs.tar")
        write_rootfs_tar(path, busybox)
        # Dated by the busybox binary, so importing twice gives the same image id.
        return import_rootfs_tarball(store, path, [str(parse(name))], os.stat(busybox).st_mtime)


def write_rootfs_tar(path, busybox=BUSYBOX):
    """The same layout as integration/busybox.py builds: applets as symlinks to /bin/busybox."""
    import subprocess
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in DIRS:
            _add(tar, d, tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755,
                 owner=1000 if d == "home/app" else 0)
        tar.add(busybox, arcname="bin/busybox")
        seen = {"bin/busybox"}
        for applet in applets:
            if applet not in seen:
                seen.add(applet)
                _add(tar, applet, tarfile.SYMTYPE, linkname="/bin/busybox")
        _add(tar, "etc/passwd", data=PASSWD.encode(), mode=0o644)
        _add(tar, "etc/group", data=GROUP.encode(), mode=0o644)


def _add(tar, name, kind=tarfile.REGTYPE, mode=0o777, owner=0, linkname="", data=b""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = owner
    info.linkname = linkname
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data else None)


if __name__ == "__main__":
    # python -m pybox.images.busybox: import the image into the default store ($PYBOX_STORAGE).
    from pybox.images.store import Store
    print(import_busybox(Store()).id)
