"""scripts/cgroup2-vm's deadlines and cleanup, in seconds instead of VM boots: QEMU is replaced by
real processes (sh and sleep) that behave like a KVM guest that hangs silently at boot, a guest that
goes quiet after booting, or one that finishes."""

import importlib.machinery
import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(PROJECT, "scripts", "cgroup2-vm")
SKIP_STATUS = 77


def _load_script():
    loader = importlib.machinery.SourceFileLoader("cgroup2_vm", SCRIPT)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("cgroup2_vm", loader))
    loader.exec_module(module)
    return module


vm = _load_script()


def gone(pid):
    """The process has exited (a zombie waiting for whoever adopted it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def pids_in(path):
    try:
        with open(path) as f:
            return [int(word) for word in f.read().split()]
    except FileNotFoundError:
        return []


def kill_leftovers(pids):
    for pid in pids:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def run_stand_in(tmp_path, shell, deadline, boot_deadline):
    """run_vm() on `sh -c shell` (which appends pids to $PIDS), deadlines in seconds from now;
    returns run_vm's answer, the seconds it took, and the pids, checked gone."""
    pidfile = tmp_path / "pids"
    start = time.monotonic()
    try:
        answer = vm.run_vm(["/usr/bin/env", f"PIDS={pidfile}", "/bin/sh", "-c", shell],
                           start + deadline, start + boot_deadline)
        elapsed = time.monotonic() - start
        pids = pids_in(pidfile)
        assert wait_until(lambda: all(gone(pid) for pid in pids), 5), f"{pids} outlived run_vm"
        return answer, elapsed, pids
    finally:
        kill_leftovers(pids_in(pidfile))


def test_run_vm_gives_up_on_a_guest_that_prints_nothing_and_kills_what_qemu_started(tmp_path):
    # A KVM that "neither fails nor boots": no output, no exit. It also starts a process of its own.
    answer, elapsed, pids = run_stand_in(tmp_path, "sleep 1000 & echo $! $$ >> $PIDS; exec sleep 1000", 60, 1.5)
    assert answer == (None, False)
    assert 1.5 <= elapsed < 6, elapsed
    assert len(pids) == 2


def test_run_vm_deadline_holds_after_boot_when_the_guest_goes_quiet(tmp_path):
    answer, elapsed, pids = run_stand_in(tmp_path, "echo $$ >> $PIDS; echo 'pybox-vm: up'; exec sleep 1000", 2, 60)
    assert answer == (None, True)
    assert 2 <= elapsed < 6, elapsed
    assert len(pids) == 1


def test_run_vm_returns_the_guests_exit_status_even_without_a_final_newline():
    done = ["/bin/sh", "-c", "echo 'pybox-vm: up'; echo 'lots of output'; printf 'PYBOX-VM-EXIT=3'"]
    start = time.monotonic()
    assert vm.run_vm(done, start + 30, start + 30) == (3, True)
    assert time.monotonic() - start < 5


def _stand_in_qemu(tmp_path, body):
    """An executable that records its pid, then runs body (sh); the script runs it as QEMU."""
    qemu = tmp_path / "qemu"
    qemu.write_text(f"#!/bin/sh\necho $$ >> {tmp_path / 'pids'}\n{body}\n")
    qemu.chmod(0o755)
    # TMPDIR: the script's temporary directory (initrd, disk) lands in the test's own, so that
    # the runs this file SIGKILLs on purpose, whose clean-up cannot run, leave nothing in /tmp.
    env = dict(os.environ, PYBOX_VM_QEMU=str(qemu), TMPDIR=str(tmp_path))
    return env, tmp_path / "pids"


def _start_script(env, *args, **kwargs):
    return subprocess.Popen([sys.executable, SCRIPT, *args], env=env, stdin=subprocess.DEVNULL, **kwargs)


def test_script_falls_back_to_tcg_when_kvm_hangs_silently(tmp_path):
    # Under "-accel kvm" the stand-in hangs without a word; under TCG the guest boots and passes.
    env, pidfile = _stand_in_qemu(tmp_path, """case " $* " in *" kvm "*) exec sleep 1000;; esac
echo "pybox-vm: stand-in guest"
echo "PYBOX-VM-EXIT=0\"""")
    start = time.monotonic()
    try:
        result = subprocess.run([sys.executable, SCRIPT, "--kvm-boot", "2", "--timeout", "30"], env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=40)
        if result.returncode == SKIP_STATUS:
            pytest.skip(result.stderr.strip())
        elapsed = time.monotonic() - start
        assert result.returncode == 0, result.stdout + result.stderr
        assert "pybox-vm: stand-in guest" in result.stdout
        pids = pids_in(pidfile)
        if os.access("/dev/kvm", os.R_OK | os.W_OK):
            assert "using TCG" in result.stdout, result.stdout
            assert len(pids) == 2
            assert 2 <= elapsed < 10, elapsed
        else:
            assert len(pids) == 1
        assert wait_until(lambda: all(gone(pid) for pid in pids), 5), pids
    finally:
        kill_leftovers(pids_in(pidfile))


def test_whole_run_deadline_holds_when_no_guest_ever_speaks(tmp_path):
    env, pidfile = _stand_in_qemu(tmp_path, "exec sleep 1000")
    start = time.monotonic()
    try:
        result = subprocess.run([sys.executable, SCRIPT, "--kvm-boot", "60", "--tcg-boot", "60", "--timeout", "3"],
                                env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if result.returncode == SKIP_STATUS:
            pytest.skip(result.stderr.strip())
        assert result.returncode == 1, result.stdout + result.stderr
        assert "did not start within" in result.stdout
        assert time.monotonic() - start < 8
        assert wait_until(lambda: all(gone(pid) for pid in pids_in(pidfile)), 5)
    finally:
        kill_leftovers(pids_in(pidfile))


def _script_with_qemu_running(tmp_path, body, processes):
    env, pidfile = _stand_in_qemu(tmp_path, body)
    script = _start_script(env, "--kvm-boot", "60", "--tcg-boot", "60", "--timeout", "60",
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_until(lambda: len(pids_in(pidfile)) == processes or script.poll() is not None, 10):
        script.kill()
        script.wait()
        pytest.fail("the stand-in QEMU did not start within 10 s")
    if script.poll() == SKIP_STATUS:
        pytest.skip(script.stderr.read().decode().strip())
    assert script.poll() is None
    return script, pidfile


def test_qemu_dies_when_the_script_is_killed_with_sigkill(tmp_path):
    # What pytest's subprocess timeout does: SIGKILL to the script alone. No finally runs.
    script, pidfile = _script_with_qemu_running(tmp_path, "exec sleep 1000", 1)
    try:
        qemu = pids_in(pidfile)[0]
        assert not gone(qemu)
        script.kill()
        script.wait(timeout=10)
        assert wait_until(lambda: gone(qemu), 5), f"QEMU stand-in {qemu} outlived the script"
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        kill_leftovers(pids_in(pidfile))


def test_sigterm_to_the_script_kills_qemu_and_what_it_started(tmp_path):
    body = "sleep 1000 & echo $! >> $(dirname $0)/pids; exec sleep 1000"
    script, pidfile = _script_with_qemu_running(tmp_path, body, 2)
    try:
        pids = pids_in(pidfile)
        assert not any(gone(pid) for pid in pids)
        script.terminate()
        assert script.wait(timeout=10) == 128 + signal.SIGTERM
        assert wait_until(lambda: all(gone(pid) for pid in pids), 5), pids
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        kill_leftovers(pids_in(pidfile))
