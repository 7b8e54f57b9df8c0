"""`pybox bench` at small N, as a person runs it: the report's fields, and nothing left behind,
also when interrupted in the middle."""

import json
import os
import signal
import subprocess
import time

import pytest

from integration.conftest import PYBOX

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/sbin/runc") and not os.path.exists("/usr/bin/runc"),
                                reason="needs runc")


def leftovers(tmp):
    """What a bench run may leave: its directory and overlay mounts (below tmp, its TMPDIR), and
    the cgroups of a bench that is gone (other benches may be running beside this test)."""
    dirs = [e for e in os.listdir(tmp) if e.startswith("pybox-bench-")]
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if line.split()[4].startswith(f"{tmp}/")]
    cgroups = []
    for top in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        for d, subdirs, _ in os.walk(top):
            cgroups += [os.path.join(d, s) for s in subdirs if s.startswith("pybox-bench-")
                        and not os.path.exists(f"/proc/{s.rpartition('-')[2]}")]
            if d.count("/") > 8:
                subdirs[:] = []
    return dirs, mounts, sorted(set(cgroups))


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """Benches in this test make their directory in a TMPDIR of its own; nothing is left there."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    before = leftovers(private)
    yield private
    assert leftovers(private) == before


def density(tmp_path, *args):
    """`pybox bench density ARGS --json`: (its run, the report)."""
    report_path = tmp_path / "report.json"
    done = subprocess.run([PYBOX, "bench", "density", *args, "--json", str(report_path), "--quiet"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done, json.loads(report_path.read_text())


def test_density_reports_every_field_and_leaves_nothing(clean, tmp_path):
    done, report = density(tmp_path, "--count", "5", "--runtime", "pybox", "--runtime", "runc",
                           "--runtime", "pybox-api")
    assert [e["runtime"] for e in report["runtimes"]] == ["pybox", "runc", "pybox-api"]
    for e in report["runtimes"]:
        assert e["started"] == 5 and e["failures"] == 0 and e["left_behind"] == []
        assert e["containers_per_second"] > 0 and e["latency_ms"]["p50"] > 0 and len(e["latencies_ms"]) == 5
        for key in ("memory_per_container_kib", "slab_per_container_kib", "kernel_per_container_kib",
                    "cgroup_charge_per_container_kib", "runtime_charge_per_container_kib",
                    "mounts_per_container", "processes_per_container", "remove_all_seconds",
                    "latency_first_tenth_ms", "latency_last_tenth_ms"):
            assert isinstance(e[key], (int, float)), key
        assert e["processes_per_container"] == 1.0  # sleep, and nothing else of the runtime's
        # The host's limits, projected from what each container cost: one task each against pid_max.
        limits = {c["limit"].split(" (")[0]: c["at_n"] for c in e["ceilings"]}
        with open("/proc/sys/kernel/pid_max") as f:
            assert 5 < limits["tasks"] <= int(f.read())
        assert "mounts in the host's namespace" in limits
    assert "containers per runtime" in done.stdout and "pybox-api" in done.stdout
    assert "ceiling: pybox: " in done.stdout


def test_rounds_report_the_median_of_each_round(clean, tmp_path):
    _, report = density(tmp_path, "--count", "3", "--rounds", "3", "--runtime", "pybox", "--runtime", "runc")
    for e in report["runtimes"]:
        assert len(e["rounds"]) == 3 and e["failures"] == 0 and e["left_behind"] == []
        for key in ("containers_per_second", "memory_per_container_kib", "kernel_per_container_kib"):
            values = sorted(r[key] for r in e["rounds"])
            assert e[key] == round(values[1], 1), key


def test_lifecycle_prints_each_phase_with_ratios(clean):
    done = subprocess.run([PYBOX, "bench", "lifecycle", "-n", "3", "--runtime", "pybox", "--runtime", "runc",
                           "--quiet"], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["runtime", "create", "start", "wait", "delete", "total"]
    assert lines[2].startswith("pybox") and "(1.00)" in lines[2] and lines[3].startswith("runc")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_removes_everything_it_made(clean, sig):
    proc = subprocess.Popen([PYBOX, "bench", "density", "--count", "200", "--runtime", "pybox", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not leftovers(clean)[1] and time.monotonic() < deadline:  # containers are being made
        time.sleep(0.05)
    time.sleep(1)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err
    assert b"Traceback" not in err


def test_bad_input_is_one_line(clean):
    for argv, field in ((["--count", "x"], "--count"), (["--runtime", "nosuch-runtime"], "nosuch-runtime"),
                        (["--memory", "lots"], "--memory")):
        done = subprocess.run([PYBOX, "bench", "density", *argv, "--quiet"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 1 and field in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
