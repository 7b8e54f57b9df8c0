"""The shell tier's two sides: pybox (tests.engine.frontend's Docker) and podman 4.3 with runc on
the same busybox image (pybox's, exported as a layer tar and `podman import`ed), podman's
storage in a temporary directory (vfs, cgroupfs below our own cgroup, --network none)."""

import os
import shutil
import subprocess
import tarfile
import time

import pytest

from integration.conftest import cgroup_tree, remove_cgroups_made_since
from integration.test_runtime_callers import delete_runtime_states_under, own_memory_cgroup

PODMAN_PARENT = f"{own_memory_cgroup()}/pybox-shell-podman"
# podman's defaults exceed this machine's hard limits (see test_runtime_callers.py).
PODMAN_RUN = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", PODMAN_PARENT]
IMAGE = "localhost/pybox-shell-bb:latest"


class Podman:
    def __init__(self, base):
        self.base = base
        self.cmd = ["podman", "--root", str(base / "root"), "--runroot", str(base / "run"),
                    "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]

    def argv(self, *args):
        return [*self.cmd, *args]

    def __call__(self, *args, check=True, timeout=60, **kw):
        if kw.get("input") is None:
            kw.setdefault("stdin", subprocess.DEVNULL)
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, **kw)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def out(self, *args, **kw):
        return self(*args, **kw).stdout

    def run(self, *args, **kw):
        """podman run with this machine's limits and no network, on the shared image."""
        return self("run", *PODMAN_RUN, "--network", "none", *args, **kw)


@pytest.fixture
def podman(podman_store):
    """podman, with no container left from the test before."""
    yield podman_store
    podman_store("rm", "--all", "--force", "--time", "0", check=False)


@pytest.fixture(scope="module")
def podman_store(tmp_path_factory, storage):
    if not shutil.which("podman") or not shutil.which("runc"):
        pytest.skip("podman and runc are needed for the comparison")
    from pybox.images.store import Store
    base = tmp_path_factory.mktemp("podman")
    cgroups_before = cgroup_tree()
    image = Store(storage).find("busybox")
    layer_tar = base / "bb.tar"
    with tarfile.open(layer_tar, "w") as tar:
        (layer,) = image.layer_dirs()
        tar.add(layer, arcname=".")
    p = Podman(base)
    p("import", str(layer_tar), IMAGE, timeout=120)
    yield p
    p("rm", "--all", "--force", "--time", "0", check=False)
    p("system", "reset", "--force", check=False)
    delete_runtime_states_under("runc", base)
    remove_cgroups_made_since(cgroups_before)


def wait_until(predicate, timeout=15, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        time.sleep(0.1)


def tree_of(path):
    """{relative path: (kind, mode, content or link target)} of a host directory."""
    out = {}
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(top, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                out[rel] = ("link", 0, os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ("dir", st.st_mode & 0o7777, None)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", st.st_mode & 0o7777, f.read())
    return out
