"""Helpers for the front-end integration tests: a private image store with busybox and a runner."""

import os
import subprocess
import sys
import tempfile

PYBOX = os.path.join(os.path.dirname(sys.executable), "pybox")


def import_busybox(storage):
    from pybox.images.busybox import import_busybox as do_import
    from pybox.images.store import Store
    do_import(Store(str(storage)))
    return str(storage)


class Docker:
    """Runs `pybox` with a private --root and image store; containers go below pybox-test cgroups."""

    def __init__(self, root, storage):
        self.root = str(root)
        self.storage = storage
        self.env = dict(os.environ, PYBOX_STORAGE=storage, PYBOX_CGROUP_PARENT="pybox-test")

    def argv(self, *args):
        return [PYBOX, "--root", self.root, *args]

    def __call__(self, *args, check=True, input=None, timeout=60):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run(self.argv(*args), stdout=out, stderr=err, env=self.env,
                                  input=input.encode() if input else None, timeout=timeout,
                                  stdin=None if input else subprocess.DEVNULL).returncode
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(args, code, out.read().decode(), err.read().decode())
        if check and result.returncode != 0:
            raise AssertionError(f"pybox {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def out(self, *args, **kw):
        return self(*args, **kw).stdout

    def remove_all(self):
        ids = self.out("ps", "-a", "-q", "--no-trunc").split()
        if ids:
            self("rm", "-f", *ids, check=False)

    def mounts_left(self):
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if self.storage in line.split()[4]]
