"""Fixtures for tests that run real containers as root.

Everything a test makes lives below its tmp_path (state root, bundle) or below this process's
own cgroup, and the `clean_host` check after each test fails it if a mount or process is left.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

from integration.busybox import build_rootfs
from pybox.runtime.defaults import default_spec

# The two front ends of the installation under test: pybox (docker-style) and pybox-runc
# (runc's command line, what podman and containerd run).
PYBOX = os.path.join(os.path.dirname(sys.executable), "pybox")
PYBOX_RUNC = os.path.join(os.path.dirname(sys.executable), "pybox-runc")

if os.geteuid() != 0:
    pytest.skip("integration tests run real containers and need root", allow_module_level=True)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    return build_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


class Bundle:
    """A bundle directory: config.json plus a private copy of the busybox rootfs."""

    def __init__(self, path, rootfs_source):
        self.path = str(path)
        self.rootfs = os.path.join(self.path, "rootfs")
        shutil.copytree(rootfs_source, self.rootfs, symlinks=True)
        self.config = default_spec()
        self.config["process"]["terminal"] = False
        self.config["root"]["readonly"] = False
        self.config["linux"]["cgroupsPath"] = test_cgroup_path()

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        return self

    def args(self, *args):
        self.config["process"]["args"] = list(args)
        return self.write()

    def in_user_namespace(self, host_id=100000):
        """A new user namespace mapping root to host_id, with the rootfs owned to match and, as
        with runc, the bundle's parents open to the container's root."""
        path = self.path
        while path != "/":
            os.chmod(path, os.stat(path).st_mode | 0o011)
            path = os.path.dirname(path)
        linux = self.config["linux"]
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
        subprocess.run(["chown", "-R", f"{host_id}:{host_id}", self.rootfs], check=True, timeout=60)


CGROUPS_OF_THIS_TEST = []


def test_cgroup_path():
    """A relative cgroupsPath: pybox puts it below the cgroup of the process running it."""
    path = f"pybox-test/{uuid.uuid4().hex[:12]}"
    CGROUPS_OF_THIS_TEST.append(path)
    return path


class Runtime:
    """Runs the real `pybox-runc` binary with a private --root."""

    binary = PYBOX_RUNC

    def __init__(self, root):
        self.root = str(root)

    def __call__(self, *args, check=True, input=None, timeout=60, binary=None, **kw):
        # Files, not pipes: a created container's init keeps pybox's stdio open (as runc's does),
        # so reading a pipe to its end would wait for the container.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run([binary or self.binary, "--root", self.root, *args], stdout=out, stderr=err,
                                  input=input.encode() if input else None, timeout=timeout,
                                  **kw).returncode
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(args, code, out.read().decode(), err.read().decode())
        if check and result.returncode != 0:
            raise AssertionError(f"{os.path.basename(binary or self.binary)} {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def state(self, cid):
        return json.loads(self("state", cid, binary=PYBOX_RUNC).stdout)


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    b = Bundle(tmp_path / "bundle", busybox_rootfs)
    return b.write()


@pytest.fixture
def pybox(tmp_path):
    runtime = Runtime(tmp_path / "state")
    yield runtime
    # Whatever a test left, delete --force must be able to remove.
    if os.path.isdir(runtime.root):
        for cid in os.listdir(runtime.root):
            runtime("delete", "--force", cid, check=False)
        assert os.listdir(runtime.root) == [], "state that delete --force did not remove"


@pytest.fixture(autouse=True)
def clean_host(tmp_path):
    """After each test: no mount, process or test cgroup of the test may be left on the host."""
    yield
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if str(tmp_path) in line.split()[4]]
    assert not left, f"mounts left behind: {left}"
    assert not processes_rooted_in(str(tmp_path)), "processes left behind"
    leftover = [d for path in CGROUPS_OF_THIS_TEST for d in own_cgroup_dirs(path) if os.path.isdir(d)]
    CGROUPS_OF_THIS_TEST.clear()
    assert not leftover, f"cgroups left behind: {leftover}"


def processes_rooted_in(prefix):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/root").startswith(prefix):
                    found.append(int(pid))
            except OSError:
                pass
    return found


def own_cgroup_dirs(relative):
    """Where a relative cgroupsPath lands for this process, in each mounted hierarchy."""
    dirs = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.strip().split(":", 2)
            name = controllers.replace("name=", "") if controllers else "unified"
            if os.path.isdir(f"/sys/fs/cgroup/{name}"):
                dirs.append(os.path.normpath(f"/sys/fs/cgroup/{name}{path}/{relative}"))
    return dirs


@pytest.fixture(scope="session", autouse=True)
def remove_test_cgroup_parents():
    yield
    for d in own_cgroup_dirs("pybox-test"):
        try:
            os.rmdir(d)
        except OSError:
            pass


def cgroup_tree():
    """Every cgroup directory on the host (for tests whose callers pick absolute cgroup paths)."""
    found = set()
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            found.add(os.path.join(top, d))
    return found


# The parents the podman and containerd tests give (and podman's own when it was given none):
# only what lies below them is theirs. Anything else made meanwhile (another test run's bench,
# a concurrent suite's containers) is left alone: removing every new cgroup broke a CI run.
CALLERS_CGROUPS = ("pybox-ctr", "libpod_parent")  # and every pybox-*-podman


def remove_cgroups_made_since(before):
    """The cgroups podman or containerd made since before, below the parents the tests gave them."""
    def theirs(path):
        parts = path.split("/")
        return any(p in CALLERS_CGROUPS or p.startswith("libpod-") or (p.startswith("pybox-") and p.endswith("-podman"))
                   for p in parts)
    for path in sorted((p for p in cgroup_tree() - before if theirs(p)), key=len, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass


# Run by a subreaper, as conmon and containerd's shim are: it prints the parent of the pid that
# `pybox ARGS` wrote to PID_FILE and its own pid (the process tree changes once it exits).
SUBREAPER = """
import os, subprocess, sys
from pybox import kernel as k
k.prctl(k.PR_SET_CHILD_SUBREAPER, 1)
pid_file, argv = sys.argv[1], sys.argv[2:]
subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=30)
with open(f"/proc/{int(open(pid_file).read())}/stat") as f:
    print(f.read().rsplit(")", 1)[1].split()[1], os.getpid())
"""


def parent_seen_by_a_subreaper(pybox, pid_file, *args):
    """Run `pybox ARGS` under a subreaper; True when the process in pid_file is its child."""
    with tempfile.TemporaryFile("w+") as out:  # not a pipe: the container keeps pybox's stdio
        subprocess.run([sys.executable, "-c", SUBREAPER, str(pid_file), PYBOX_RUNC, "--root", pybox.root, *args],
                       stdout=out, timeout=60, check=True)
        out.seek(0)
        parent, subreaper = out.read().split()
    return parent == subreaper

