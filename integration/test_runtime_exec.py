"""exec: how podman and containerd start extra processes in a container."""

import json
import os
import subprocess

from integration.conftest import PYBOX
from integration.test_runtime_lifecycle import wait_for


def started(pybox, bundle, *args):
    bundle.args(*(args or ("sleep", "1000")))
    pybox("run", "-d", "-b", bundle.path, "c1")
    return pybox.state("c1")["pid"]


def test_exec_runs_in_the_container_and_returns_its_status(pybox, bundle):
    started(pybox, bundle)
    result = pybox("exec", "c1", "sh", "-c", "hostname; pidof sleep; exit 3", check=False)
    assert result.returncode == 3
    assert result.stdout.split() == ["pybox", "1"]  # the init is the container's pid 1
    pybox("delete", "--force", "c1")


def test_exec_env_cwd_user_and_caps(pybox, bundle):
    started(pybox, bundle)
    out = pybox("exec", "-e", "A=1", "--cwd", "/tmp", "-u", "1000:1000", "--cap", "CAP_CHOWN", "c1",
                "sh", "-c", "echo $A; pwd; id -u; grep CapBnd /proc/self/status").stdout.split()
    assert out[:3] == ["1", "/tmp", "1000"]
    assert int(out[4], 16) & 1  # CAP_CHOWN was added to the bounding set
    pybox("delete", "--force", "c1")


def test_exec_process_file_detached_with_pid_file(pybox, bundle, tmp_path):
    started(pybox, bundle)
    process = {"args": ["sh", "-c", "echo detached > /tmp/d; sleep 1000"], "cwd": "/", "env": ["PATH=/bin"],
               "user": {"uid": 0, "gid": 0}}
    (tmp_path / "process.json").write_text(json.dumps(process))
    pid_file = tmp_path / "exec.pid"
    pybox("exec", "--process", str(tmp_path / "process.json"), "--detach", "--pid-file", str(pid_file), "c1")
    pid = int(pid_file.read_text())
    assert wait_for(lambda: os.path.exists(os.path.join(bundle.rootfs, "tmp/d")))
    assert pid in json.loads(pybox("ps", "--format", "json", "c1").stdout)
    with open(f"/proc/{pid}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) != os.getpid()
    pybox("delete", "--force", "c1")


def test_exec_into_a_stopped_container_is_refused(pybox, bundle):
    bundle.args("true")
    pybox("run", "--keep", "-b", bundle.path, "c1")
    result = pybox("exec", "c1", "true", check=False)
    assert result.returncode == 1 and "stopped" in result.stderr
    pybox("delete", "c1")


def test_exec_missing_program_is_one_line(pybox, bundle):
    started(pybox, bundle)
    result = pybox("exec", "c1", "nope", check=False)
    assert result.returncode == 1 and "executable file not found" in result.stderr
    pybox("delete", "--force", "c1")


def test_exec_with_a_terminal(pybox, bundle):
    import pty
    started(pybox, bundle)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(PYBOX, [PYBOX, "--root", pybox.root, "exec", "-t", "c1", "sh", "-c", "tty; stty size"])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"/dev/pts/" in output
    pybox("delete", "--force", "c1")
