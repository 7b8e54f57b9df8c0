"""Builds the test root filesystem from Debian's busybox-static."""

import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
wheel:x:10:app
nogroup:x:65534:
app:x:1000:
"""


def build_rootfs(path):
    """Write a minimal busybox root filesystem at path (which must not exist yet)."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root",
              "home/app", "var/tmp", "run"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = os.path.join(path, applet)
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(path, "etc/group"), "w") as f:
        f.write(GROUP)
    os.chown(os.path.join(path, "home/app"), 1000, 1000)
    return path
