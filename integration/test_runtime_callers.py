"""podman (through conmon) and containerd (through its runc shim) with pybox as their runtime."""

import json
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from integration.conftest import PYBOX_RUNC, cgroup_tree, remove_cgroups_made_since

def own_memory_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.strip().split(":", 2)
            if controllers in ("memory", ""):
                own = path
                if controllers == "memory":
                    break
    return own.rstrip("/")


# podman and containerd default to cgroups at the hierarchy's root; keep theirs below ours.
PODMAN_PARENT = f"{own_memory_cgroup()}/pybox-podman"
CTR_CGROUP = f"{own_memory_cgroup()}/pybox-ctr"

# This machine's hard limits for open files and processes are lower than podman's defaults
# (runc fails the same way without these).
# --network none: podman's default bridge would put netavark's rules into the host's nftables.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", PODMAN_PARENT,
           "--network", "none"]


def run(*argv, timeout=120, check=True):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result


def rootfs_tar(rootfs, path):
    with tarfile.open(path, "w") as tar:
        tar.add(rootfs, arcname=".")
    return path


def delete_runtime_states_under(runtime, base):
    """podman's rm and system reset leave the runtime's state of some stopped containers behind
    (13 of runc's and 2 of pybox-runc's were found in /run after a day of runs): delete every
    container of the runtime whose bundle lies in podman's storage at base."""
    for cid in run(runtime, "list", "-q", check=False).stdout.split():
        state = run(runtime, "state", cid, check=False).stdout
        if state and json.loads(state).get("bundle", "").startswith(f"{base}/"):
            run(runtime, "delete", "--force", cid, check=False)


def podman_session(base, busybox_rootfs, runtime):
    """A podman with its storage under base and the busybox image as localhost/pybox-bb; yields
    its command line, then removes everything it made."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    cgroups_before = cgroup_tree()
    cmd = ["podman", "--root", str(base / "root"), "--runroot", str(base / "run"),
           "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", runtime]
    run(*cmd, "import", rootfs_tar(busybox_rootfs, base / "bb.tar"), "localhost/pybox-bb:latest")
    yield cmd
    run(*cmd, "rm", "--all", "--force", "--time", "0", check=False)
    run(*cmd, "system", "reset", "--force", check=False)
    delete_runtime_states_under(runtime, base)
    # podman's cgroupfs manager leaves its parent (and conmon's cgroup) behind.
    remove_cgroups_made_since(cgroups_before)


@pytest.fixture(scope="module")
def podman(tmp_path_factory, busybox_rootfs):
    yield from podman_session(tmp_path_factory.mktemp("podman"), busybox_rootfs, PYBOX_RUNC)


def test_podman_run_exec_pause_stop_rm(podman):
    out = run(*podman, "run", "--rm", *ULIMITS, "localhost/pybox-bb", "sh", "-c", "echo hi; id -u").stdout
    assert out.split() == ["hi", "0"]
    # podman's --tmpfs carries runc's tmpcopyup option.
    out = run(*podman, "run", "--rm", *ULIMITS, "--tmpfs", "/etc", "localhost/pybox-bb", "sh", "-c",
              "grep -c ' /etc tmpfs' /proc/mounts; grep -c root /etc/passwd").stdout
    assert out.split() == ["1", "1"]
    assert run(*podman, "run", "--rm", *ULIMITS, "localhost/pybox-bb", "sh", "-c", "exit 3",
               check=False).returncode == 3
    run(*podman, "run", "-d", "--name", "pbx", *ULIMITS, "localhost/pybox-bb", "sleep", "1000")
    assert run(*podman, "exec", "pbx", "sh", "-c", "echo exec ok").stdout.strip() == "exec ok"
    run(*podman, "pause", "pbx")
    assert "paused" in run(*podman, "inspect", "--format", "{{.State.Status}}", "pbx").stdout
    run(*podman, "unpause", "pbx")
    run(*podman, "stop", "-t", "1", "pbx")
    run(*podman, "rm", "pbx")


def test_podman_terminal(podman):
    out = run(*podman, "run", "--rm", "-t", *ULIMITS, "localhost/pybox-bb", "tty").stdout
    assert out.strip() == "/dev/console" or out.strip().startswith("/dev/pts/")
    # exec -t: conmon takes the pty over exec's --console-socket.
    run(*podman, "run", "-d", "--name", "pbt", *ULIMITS, "localhost/pybox-bb", "sleep", "1000")
    try:
        out = run(*podman, "exec", "-t", "pbt", "sh", "-c", "tty; readlink /proc/self/fd/1").stdout.split()
        assert out[0].startswith("/dev/pts/") and out[1] == out[0]
    finally:
        run(*podman, "rm", "--force", "--time", "0", "pbt", check=False)


@pytest.fixture(scope="module")
def containerd(tmp_path_factory, podman):
    if not shutil.which("containerd"):
        pytest.skip("containerd is not installed")
    base = tmp_path_factory.mktemp("containerd")
    cgroups_before = cgroup_tree()
    sock = str(base / "containerd.sock")
    daemon = subprocess.Popen(["containerd", "--root", str(base / "root"), "--state", str(base / "state"),
                               "--address", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctr = ["ctr", "--address", sock, "--namespace", "pyboxtest"]
    for _ in range(100):
        if run(*ctr, "version", check=False).returncode == 0:
            break
        time.sleep(0.1)
    archive = str(base / "bb.oci.tar")
    run(*podman, "save", "--format", "oci-archive", "-o", archive, "localhost/pybox-bb")
    run(*ctr, "images", "import", "--base-name", "localhost/pybox-bb", archive)
    yield ctr
    run(*ctr, "images", "rm", "localhost/pybox-bb:latest", check=False)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=20)
    subprocess.run(["umount", "-R", str(base / "state")], stderr=subprocess.DEVNULL)
    remove_cgroups_made_since(cgroups_before)


def test_containerd_run_exec_ps_pause_kill(containerd):
    ctr = containerd
    image = "localhost/pybox-bb:latest"
    out = run(*ctr, "run", "--rm", "--cgroup", f"{CTR_CGROUP}/c1", "--runc-binary", PYBOX_RUNC, image, "c1",
              "sh", "-c", "echo hi; exit 0").stdout
    assert out.strip() == "hi"
    run(*ctr, "run", "-d", "--cgroup", f"{CTR_CGROUP}/c2", "--runc-binary", PYBOX_RUNC, image, "c2", "sleep", "1000")
    try:
        assert run(*ctr, "task", "exec", "--exec-id", "e1", "c2", "sh", "-c", "echo in").stdout.strip() == "in"
        assert "PID" in run(*ctr, "task", "ps", "c2").stdout
        run(*ctr, "task", "pause", "c2")
        assert "PAUSED" in run(*ctr, "task", "ls").stdout
        run(*ctr, "task", "resume", "c2")
        run(*ctr, "task", "kill", "-s", "KILL", "c2")
        for _ in range(100):
            if "STOPPED" in run(*ctr, "task", "ls").stdout:
                break
            time.sleep(0.05)
    finally:
        run(*ctr, "task", "rm", "-f", "c2", check=False)
        run(*ctr, "containers", "rm", "c2", check=False)


# Signal dispositions and the mask reach the container as the caller set them, not as Python
# (which ignores SIGPIPE and SIGXFSZ) left them: for the init and for exec, under both callers.
SIGNALS = "grep -E '^Sig(Ign|Blk)' /proc/self/status | tr -s '\\t' ' '"


def _ignored_and_blocked(text):
    fields = dict(line.split(": ") for line in text.strip().splitlines())
    return int(fields["SigIgn"], 16), int(fields["SigBlk"], 16)


def test_podman_init_and_exec_start_with_default_signals(podman):
    out = run(*podman, "run", "--rm", *ULIMITS, "localhost/pybox-bb", "sh", "-c", SIGNALS).stdout
    assert _ignored_and_blocked(out) == (0, 0)
    run(*podman, "run", "-d", "--name", "pbs", *ULIMITS, "localhost/pybox-bb", "sleep", "1000")
    try:
        assert _ignored_and_blocked(run(*podman, "exec", "pbs", "sh", "-c", SIGNALS).stdout) == (0, 0)
        out = run(*podman, "exec", "pbs", "sh", "-c", "yes | head -1", timeout=30).stdout
        assert out.strip() == "y"  # with SIGPIPE ignored, `yes` never ends
    finally:
        run(*podman, "rm", "--force", "--time", "0", "pbs", check=False)


def test_containerd_init_and_exec_start_with_default_signals(containerd):
    ctr = containerd
    image = "localhost/pybox-bb:latest"
    out = run(*ctr, "run", "--rm", "--cgroup", f"{CTR_CGROUP}/s1", "--runc-binary", PYBOX_RUNC, image, "s1",
              "sh", "-c", SIGNALS).stdout
    assert _ignored_and_blocked(out) == (0, 0)
    run(*ctr, "run", "-d", "--cgroup", f"{CTR_CGROUP}/s2", "--runc-binary", PYBOX_RUNC, image, "s2", "sleep", "1000")
    try:
        out = run(*ctr, "task", "exec", "--exec-id", "e1", "s2", "sh", "-c", SIGNALS).stdout
        assert _ignored_and_blocked(out) == (0, 0)
    finally:
        run(*ctr, "task", "kill", "-s", "KILL", "s2", check=False)
        for _ in range(100):
            if "s2" not in run(*ctr, "task", "ls").stdout or "STOPPED" in run(*ctr, "task", "ls").stdout:
                break
            time.sleep(0.05)
        run(*ctr, "task", "rm", "-f", "s2", check=False)
        run(*ctr, "containers", "rm", "s2", check=False)
