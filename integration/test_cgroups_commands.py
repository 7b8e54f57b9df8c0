"""`pybox update`, `events`, `pause`/`resume` and `ps` on a real container, through the CLI."""

import json
import subprocess

import pytest

from integration.conftest import PYBOX_RUNC

MiB = 1 << 20


@pytest.fixture
def running(bundle, tmp_path):
    """A started busybox container with a 64 MiB memory limit; yields a function running pybox."""
    root = str(tmp_path / "state")

    def pybox(*args, check=True):
        result = subprocess.run([PYBOX_RUNC, "--root", root, *args], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    bundle.config["linux"]["resources"]["memory"] = {"limit": 64 * MiB}
    bundle.args("sh", "-c", "sleep 60")
    # create's stdout is the container's: a pipe would stay open, so it goes to /dev/null.
    subprocess.run([PYBOX_RUNC, "--root", root, "create", "--bundle", bundle.path, "c1"], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    try:
        pybox("start", "c1")
        yield pybox
    finally:
        pybox("delete", "--force", "c1", check=False)


def _stats(pybox):
    event = json.loads(pybox("events", "--stats", "c1").stdout)
    assert event["type"] == "stats" and event["id"] == "c1"
    return event["data"]


def test_update_changes_limits_of_a_running_container(running):
    assert _stats(running)["memory"]["usage"]["limit"] == 64 * MiB
    running("update", "--memory", "128m", "--pids-limit", "7", "c1")
    data = _stats(running)
    assert data["memory"]["usage"]["limit"] == 128 * MiB
    assert data["pids"]["limit"] == 7


def test_update_resources_from_stdin(running, tmp_path):
    path = tmp_path / "resources.json"
    path.write_text(json.dumps({"pids": {"limit": 9}}))
    running("update", "--resources", str(path), "c1")
    assert _stats(running)["pids"]["limit"] == 9


def test_update_bad_value_is_one_line(running):
    result = running("update", "--memory", "12x", "c1", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "--memory" in result.stderr


def test_pause_resume_and_ps(running):
    pids = json.loads(running("ps", "--format", "json", "c1").stdout)
    assert len(pids) == 1
    running("pause", "c1")
    assert json.loads(running("state", "c1").stdout)["status"] == "paused"
    running("resume", "c1")
    assert json.loads(running("state", "c1").stdout)["status"] == "running"


def test_events_of_a_missing_container(running):
    result = running("events", "--stats", "nope", check=False)
    assert result.returncode == 1 and "does not exist" in result.stderr
