"""SIGKILL of the runtime at random moments: its own `delete --force` must leave nothing.

conmon, containerd's shim and the kubelet's timeouts kill runtimes mid-command; what a killed
`create` left behind (state, cgroups, mounts, processes) is what `delete --force` is then asked
to clean. The conftest's clean_host check runs after each test on top of what is asserted here.
"""

import os
import random
import subprocess
import time

import pytest

from integration.conftest import PYBOX_RUNC, processes_rooted_in

KILLS = 24


def _kill_after(argv, delay):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=30)
    return proc.returncode


def _gone(pybox, bundle, cid, seconds=10):
    """The container's state and processes are gone (the init may take a moment to notice)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not os.path.exists(os.path.join(pybox.root, cid)) and not processes_rooted_in(bundle.rootfs):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("command", ["create", "run"])
def test_a_killed_create_or_run_is_cleaned_by_delete_force(pybox, bundle, command):
    bundle.args("sleep", "1000")
    rng = random.Random(5736)
    extra = ["--detach"] if command == "run" else []
    interrupted = 0
    for i in range(KILLS):
        cid = f"k{i}"
        code = _kill_after([PYBOX_RUNC, "--root", pybox.root, command, *extra, "-b", bundle.path, cid],
                           rng.uniform(0.005, 0.04))
        interrupted += code == -9
        result = pybox("delete", "--force", cid, check=False)
        assert result.returncode == 0, result.stderr
        assert _gone(pybox, bundle, cid), f"kill {i}: left behind after delete --force"
    assert pybox("list", "-q").stdout.split() == []
    assert interrupted >= KILLS // 3, f"only {interrupted} of {KILLS} kills came before the command ended"


def test_a_killed_delete_or_exec_is_finished_by_delete_force(pybox, bundle):
    bundle.args("sleep", "1000")
    rng = random.Random(16884)
    for i in range(KILLS // 2):
        cid = f"d{i}"
        pybox("run", "--detach", "-b", bundle.path, cid)
        _kill_after([PYBOX_RUNC, "--root", pybox.root, "exec", cid, "sleep", "1000"], rng.uniform(0.005, 0.03))
        _kill_after([PYBOX_RUNC, "--root", pybox.root, "delete", "--force", cid], rng.uniform(0.001, 0.01))
        result = pybox("delete", "--force", cid, check=False)
        assert result.returncode == 0, result.stderr
        assert _gone(pybox, bundle, cid), f"kill {i}: left behind after delete --force"
