"""CVE-2019-5736, as it applies to a runtime written in Python: a container must never reach the
host's interpreter (the runtime's own executable) through /proc/<pid>/exe.

The attack: an image file whose first line is `#!/proc/self/exe` makes the kernel re-execute the
executable of the process that execs it. If that process is still the runtime's interpreter, the
host's interpreter runs inside the container, dumpable again, and a process of the container keeps
a handle on /proc/<pid>/exe and writes through it once the runtime has exited.

Each test runs pybox through a private copy of the interpreter (the "victim"), so that a successful
attack damages only the copy, and checks that the copy is unchanged. The container gets the host's
/usr/lib read-only so that the interpreter, if it is ever reached, can run the attack's code: it
stands for an image with glibc and Python in it, such as python:3.11.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest

from integration.conftest import PYBOX, PYBOX_RUNC
from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)

# Run by the re-executed interpreter, if the attack reaches it: keep an O_PATH handle on our own
# executable, then become busybox sh (so that no process runs the victim any more) and write
# through the handle until the write goes through.
EVIL = """#!/proc/self/exe
import os
fd = os.open("/proc/self/exe", os.O_PATH)
os.dup2(fd, 9)
loop = ("exec </dev/null >/dev/null 2>&1; "
        "for i in $(seq 400); do if echo PWNED 2>/dev/null >/proc/self/fd/9; then exit; fi; sleep 0.05; done")
if os.getpid() != 1 and os.fork() > 0:
    os._exit(0)  # exec'd: let `pybox exec` return while the loop goes on
os.execv("/bin/sh", ["sh", "-c", loop])
"""


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Victim:
    """pybox's two launchers (pybox-runc: .launcher, pybox: .engine) with a private copy of the
    real interpreter; the engine finds pybox-runc next to its interpreter, so conmon runs it too."""

    def __init__(self, d):
        d.mkdir()
        self.python, self.launcher, self.engine = str(d / "python-victim"), str(d / "pybox-runc"), str(d / "pybox")
        shutil.copy2(os.path.realpath(sys.executable), self.python)
        for original, copy in ((PYBOX_RUNC, self.launcher), (PYBOX, self.engine)):
            with open(original) as f:
                code = f.read().split("\n", 1)[1]
            with open(copy, "w") as f:
                f.write(f"#!{self.python} -IS\n{code}")
            os.chmod(copy, 0o755)
        self.digest = _digest(self.python)

    def intact(self, seconds=4):
        """Whether the copy stays as it was for that long (the attack writes within a second)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if _digest(self.python) != self.digest:
                return False
            time.sleep(0.1)
        return True


@pytest.fixture
def victim(tmp_path):
    return Victim(tmp_path / "victim")


def grant_ptrace(bundle):
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = sorted(set(caps[kind]) | {"CAP_SYS_PTRACE"})


@pytest.fixture
def evil_bundle(bundle):
    os.symlink("usr/lib", os.path.join(bundle.rootfs, "lib"))
    os.symlink("usr/lib64", os.path.join(bundle.rootfs, "lib64"))
    for path in ("/usr/lib", "/usr/lib64"):
        os.makedirs(bundle.rootfs + path, exist_ok=True)
        bundle.config["mounts"].append({"destination": path, "type": "bind", "source": path,
                                        "options": ["rbind", "ro"]})
    with open(os.path.join(bundle.rootfs, "evil"), "w") as f:
        f.write(EVIL)
    os.chmod(os.path.join(bundle.rootfs, "evil"), 0o755)
    return bundle


def _run(launcher, root, *args, timeout=60, check=True):
    # Not a pipe: the container keeps pybox's stdio open.
    subprocess.run([launcher, "--root", root, *args], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, check=check)


def test_init_cannot_reach_the_host_interpreter(pybox, evil_bundle, victim):
    launcher = victim.launcher
    evil_bundle.args("/evil")
    _run(launcher, pybox.root, "create", "-b", evil_bundle.path, "c1")
    _run(launcher, pybox.root, "start", "c1")
    try:
        assert victim.intact(), "the container wrote to the runtime's interpreter"
    finally:
        pybox("delete", "--force", "c1", check=False)


def test_exec_cannot_reach_the_host_interpreter(pybox, evil_bundle, victim):
    launcher = victim.launcher
    evil_bundle.args("sleep", "1000")
    _run(launcher, pybox.root, "run", "-d", "-b", evil_bundle.path, "c1")
    try:
        _run(launcher, pybox.root, "exec", "c1", "/evil", check=False)
        assert victim.intact(), "the container wrote to the runtime's interpreter"
    finally:
        pybox("delete", "--force", "c1", check=False)


def test_a_hook_run_inside_the_container_cannot_reach_the_host_interpreter(pybox, evil_bundle, victim):
    # startContainer hooks run in the container, after pivot_root: their path is the image's.
    launcher = victim.launcher
    evil_bundle.config["hooks"] = {"startContainer": [{"path": "/evil"}]}
    evil_bundle.args("sleep", "1000")
    _run(launcher, pybox.root, "create", "-b", evil_bundle.path, "c1")
    _run(launcher, pybox.root, "start", "c1", check=False)
    try:
        assert victim.intact(), "the container wrote to the runtime's interpreter"
    finally:
        pybox("delete", "--force", "c1", check=False)


# A container process that may ptrace (CAP_SYS_PTRACE, no user namespace) passes the kernel's
# check on a process that is not dumpable: it watches /proc for the runtime's interpreter while
# `pybox exec` enters, keeps a handle on it and writes once pybox has exited.
WATCHER = """exec </dev/null >/dev/null 2>&1
for i in $(seq 4000); do
  for p in /proc/[0-9]*; do
    case "$(readlink $p/exe)" in *python-victim*) exec 9<$p/exe; break 2;; esac
  done
done
for i in $(seq 400); do if echo PWNED 2>/dev/null >/proc/self/fd/9; then exit; fi; sleep 0.05; done
"""


def test_a_container_that_may_ptrace_cannot_reach_the_host_interpreter(pybox, bundle, victim):
    launcher = victim.launcher
    grant_ptrace(bundle)
    bundle.args("sh", "-c", WATCHER)
    _run(launcher, pybox.root, "run", "-d", "-b", bundle.path, "c1")
    try:
        for _ in range(5):
            _run(launcher, pybox.root, "exec", "c1", "true", check=False)
        assert victim.intact(), "the container wrote to the runtime's interpreter"
    finally:
        pybox("delete", "--force", "c1", check=False)


def test_an_init_joining_a_pid_namespace_with_a_ptrace_capable_process_is_out_of_reach(
        pybox, bundle, victim, tmp_path, busybox_rootfs):
    # c2 joins c1's pid namespace (a pod that shares one), where c1's watcher already runs.
    from integration.conftest import Bundle
    launcher = victim.launcher
    grant_ptrace(bundle)
    bundle.args("sh", "-c", WATCHER)
    _run(launcher, pybox.root, "run", "-d", "-b", bundle.path, "c1")
    second = Bundle(tmp_path / "second", busybox_rootfs)
    for ns in second.config["linux"]["namespaces"]:
        if ns["type"] == "pid":
            ns["path"] = f"/proc/{pybox.state('c1')['pid']}/ns/pid"
    second.args("true")
    second.write()
    try:
        for _ in range(3):
            _run(launcher, pybox.root, "run", "-b", second.path, "c2", check=False)
        assert victim.intact(), "the container wrote to the runtime's interpreter"
    finally:
        pybox("delete", "--force", "c2", check=False)
        pybox("delete", "--force", "c1", check=False)


@pytest.fixture
def evil_image(docker, tmp_path, victim):
    """An image whose /evil is the attack, with /lib and /lib64 where a glibc image has them."""
    import io
    import tarfile

    from pybox.images.busybox import write_rootfs_tar
    path = str(tmp_path / "evil.tar")
    write_rootfs_tar(path)
    with tarfile.open(path, "a") as tar:
        for name, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        info = tarfile.TarInfo("evil")
        info.mode, info.size = 0o755, len(EVIL)
        tar.addfile(info, io.BytesIO(EVIL.encode()))
    launcher = victim.engine
    subprocess.run([launcher, "--root", docker.root, "import", path, "evil"], env=docker.env,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=True)
    return "evil"


def _docker(docker, launcher, *args, check=True):
    subprocess.run([launcher, "--root", docker.root, *args], env=docker.env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=check)


LIBS = ["-v", "/usr/lib:/usr/lib:ro", "-v", "/usr/lib64:/usr/lib64:ro"]


def test_docker_style_run_cannot_reach_the_host_interpreter(docker, evil_image, victim):
    launcher = victim.engine
    _docker(docker, launcher, "run", "-d", "--name", "c1", "--network", "none", *LIBS, evil_image, "/evil")
    assert victim.intact(), "the container wrote to the runtime's interpreter"


def test_docker_style_exec_cannot_reach_the_host_interpreter(docker, evil_image, victim):
    launcher = victim.engine
    _docker(docker, launcher, "run", "-d", "--name", "c1", "--network", "none", *LIBS, evil_image,
            "sleep", "1000")
    _docker(docker, launcher, "exec", "c1", "/evil", check=False)
    assert victim.intact(), "the container wrote to the runtime's interpreter"
