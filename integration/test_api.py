"""pybox.runtime.api as a program uses it: in-process, beside the command line, errors included."""

import json
import os
import subprocess

import pytest

from integration.conftest import PYBOX_RUNC
from pybox.runtime import api


@pytest.fixture
def rt(tmp_path):
    runtime = api.Runtime(root=str(tmp_path / "state"))
    yield runtime
    for c in runtime.list():
        c.delete(force=True)


def test_lifecycle_in_process(rt, bundle):
    bundle.args("sh", "-c", "exit 7")
    c = rt.create("c1", bundle=bundle.path)
    assert c.status() == "created" and c.pid > 0
    assert c.state()["status"] == "created" and c.state()["bundle"] == bundle.path
    c.start()
    assert c.wait(timeout=10) == 7
    assert c.status() == "stopped"
    c.delete()
    assert rt.list() == []


def test_exec_kill_and_the_exit_status_of_a_signal(rt, bundle):
    bundle.args("sleep", "1000")
    c = rt.create("c1", bundle=bundle.path)
    c.start()
    assert c.status() == "running"
    assert c.exec(["sh", "-c", "test -f /bin/busybox && exit 3"]) == 3
    c.pause()
    assert c.status() == "paused"
    c.resume()
    c.kill("SIGKILL")  # sleep as pid 1 has no handler for TERM: the kernel would drop it
    assert c.wait(timeout=10) == 128 + 9
    c.delete()


def test_the_container_writes_to_the_stdio_it_is_given(rt, bundle, tmp_path):
    bundle.args("sh", "-c", "echo out; echo err >&2")
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with open(out_path, "w") as out, open(err_path, "w") as err, open(os.devnull) as null:
        c = rt.create("c1", bundle=bundle.path, stdio=(null.fileno(), out.fileno(), err.fileno()))
    c.start()
    assert c.wait(timeout=10) == 0
    assert (out_path.read_text(), err_path.read_text()) == ("out\n", "err\n")
    c.delete()


def _caller_facts():
    import _signal
    fds = sorted(os.listdir("/proc/self/fd"))
    with open("/proc/self/status") as f:
        status = {line.split(":")[0]: line.split(":", 1)[1].strip() for line in f}
    umask = os.umask(0o22)
    os.umask(umask)
    handlers = {sig: _signal.getsignal(sig) for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGPIPE,
                                                        _signal.SIGCHLD, _signal.SIGHUP)}
    from pybox import kernel as k
    return {"fds": len(fds), "cwd": os.getcwd(), "umask": umask, "handlers": handlers,
            "dumpable": k.prctl(3),
            "SigBlk": status["SigBlk"], "threads": status["Threads"]}


def test_many_containers_leave_the_calling_program_as_it_was(rt, bundle):
    """A program that makes containers in a loop: no fd, handler, cwd, umask or flag it does not
    get back, and every container's init reaped."""
    bundle.args("true")
    before = _caller_facts()
    for i in range(25):
        c = rt.create(f"c{i}", bundle=bundle.path)
        c.start()
        assert c.wait(timeout=10) == 0
        c.delete()
    assert _caller_facts() == before
    with open("/proc/self/status") as f:
        assert not [line for line in f if line.startswith("State") and "zombie" in line]
    assert not os.listdir(rt.root)


def test_errors_are_one_line_and_leave_nothing(rt, bundle):
    bundle.config["process"]["user"]["uid"] = "root"
    bundle.args("true")
    with pytest.raises(api.Error) as err:
        rt.create("bad", bundle=bundle.path)
    assert "process.user.uid" in str(err.value) and "\n" not in str(err.value)
    assert not os.path.exists(os.path.join(rt.root, "bad"))
    bundle.config["process"]["user"]["uid"] = 0
    bundle.args("sleep", "1000")
    c = rt.create("c1", bundle=bundle.path)
    with pytest.raises(api.Error, match="exists"):
        rt.create("c1", bundle=bundle.path)
    with pytest.raises(api.NotFound):
        rt.get("nosuch")
    c.start()
    with pytest.raises(api.Timeout):
        c.wait(timeout=0.2)
    with pytest.raises(api.Error, match="running"):
        c.delete()
    c.delete(force=True)
    assert rt.list() == []


def test_the_command_line_and_the_api_see_the_same_containers(rt, bundle):
    bundle.args("sleep", "1000")
    made_here = rt.create("by-api", bundle=bundle.path)
    made_here.start()

    def cli(*args):
        return subprocess.run([PYBOX_RUNC, "--root", rt.root, *args], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, check=True).stdout

    assert json.loads(cli("state", "by-api"))["status"] == "running"
    with open(os.devnull, "w") as null:  # the created init keeps the CLI's stdio: not a pipe
        subprocess.run([PYBOX_RUNC, "--root", rt.root, "create", "-b", bundle.path, "by-cli"],
                       stdout=null, stderr=null, timeout=60, check=True)
    assert sorted(c.id for c in rt.list()) == ["by-api", "by-cli"]
    theirs = rt.get("by-cli")
    assert theirs.status() == "created"
    theirs.start()
    theirs.kill(9)
    assert theirs.wait(timeout=10) is None  # not our child: its status is not ours to learn
    theirs.delete()
    cli("delete", "--force", "by-api")
    assert made_here.status() == "stopped" and rt.list() == []



def test_force_delete_of_a_running_container_kills_reaps_and_removes(rt, bundle):
    """delete(force=True) of running containers: each init is killed, reaped (no zombie left in
    the caller) and its state and cgroup are gone; it learns of the exit from a pidfd."""
    bundle.args("sleep", "1000")
    made = [rt.create(f"d{i}", bundle=bundle.path) for i in range(5)]
    for c in made:
        c.start()
    cgroups = [f"/sys/fs/cgroup/memory{c._record.data['cgroup']['path']}" for c in made]
    assert all(os.path.isdir(d) for d in cgroups)
    for c in made:
        c.delete(force=True)
        assert c.status() == "stopped" and not os.path.exists(f"/proc/{c.pid}")
        with pytest.raises(ChildProcessError):
            os.waitpid(c.pid, os.WNOHANG)
    assert rt.list() == [] and not os.listdir(rt.root)
    assert not [d for d in cgroups if os.path.isdir(d)]
