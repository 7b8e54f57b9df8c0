"""exec: how podman and containerd start extra processes in a container."""

import json
import os
import subprocess

from integration.conftest import PYBOX_RUNC
from integration.test_runtime_lifecycle import wait_for
from pybox.runtime.spec import NAMESPACE_FILES


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
    started(pybox, bundle)
    status, output = in_a_pty([PYBOX_RUNC, "--root", pybox.root, "exec", "-t", "c1", "sh", "-c", "tty; stty size"])
    assert status == 0
    assert b"/dev/pts/" in output
    pybox("delete", "--force", "c1")


# --- helpers for the tests below -------------------------------------------------------------------

def in_a_pty(argv):
    """Run argv with a new pty as its terminal; returns (exit code, everything it printed)."""
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    output = read_until(fd, None, timeout=60)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def read_until(fd, token, timeout=10):
    """Read fd until token shows up (None: until its end) or the time is up; returns all read."""
    import select
    import time
    output = b""
    deadline = time.monotonic() + timeout
    while (token is None or token not in output) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the pty's other side is closed
                break
            if not chunk:
                break
            output += chunk
    return output


def host_directory_fd(path):
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


# --- CVE-2024-21626: no host fd, and no cwd through one --------------------------------------------

def test_no_host_fd_reaches_an_exec(pybox, bundle, tmp_path):
    started(pybox, bundle)
    leaked = host_directory_fd(tmp_path)  # pybox is given a host directory it was not asked to pass
    try:
        out = pybox("exec", "c1", "sh", "-c", "ls /proc/self/fd | tr '\\n' ' '", pass_fds=(leaked,)).stdout
    finally:
        os.close(leaked)
    assert sorted(out.split()) == ["0", "1", "2", "3"]  # 3 is ls's own directory handle
    pybox("delete", "--force", "c1")


def test_exec_cwd_through_a_leaked_fd_path_is_refused(pybox, bundle, tmp_path):
    started(pybox, bundle)
    (tmp_path / "host-marker").write_text("")
    leaked = host_directory_fd(tmp_path)
    look = ["sh", "-c", "ls; echo ran"]  # not `pwd`: it fails by itself in a directory outside the root
    try:
        for fd in [*range(3, 12), leaked]:
            result = pybox("exec", "--cwd", f"/proc/self/fd/{fd}", "c1", *look, check=False, pass_fds=(leaked,))
            assert result.returncode == 1 and "cwd" in result.stderr, result.stdout
            assert result.stdout == ""
        process = {"args": look, "cwd": f"/proc/self/fd/{leaked}", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
        (tmp_path / "process.json").write_text(json.dumps(process))
        result = pybox("exec", "--process", str(tmp_path / "process.json"), "c1", check=False, pass_fds=(leaked,))
        assert result.returncode == 1 and "cwd" in result.stderr and result.stdout == ""
    finally:
        os.close(leaked)
    pybox("delete", "--force", "c1")


def test_exec_cwd_through_a_preserved_host_directory_is_refused(pybox, bundle, tmp_path):
    # --preserve-fds hands the process a host directory on purpose; the process may hold it, but
    # it must not start with it as its working directory.
    started(pybox, bundle)
    (tmp_path / "host-marker").write_text("")
    with open(tmp_path / "out", "w") as out:
        proc = subprocess.run(["bash", "-c", f'exec 3<{tmp_path}; exec "$@"', "bash", PYBOX_RUNC, "--root", pybox.root,
                               "exec", "--preserve-fds", "1", "--cwd", "/proc/self/fd/3", "c1", "sh", "-c", "ls; echo ran"],
                              stdout=out, stderr=subprocess.STDOUT, timeout=30)
    output = (tmp_path / "out").read_text()
    assert proc.returncode == 1 and "cwd" in output, output
    assert "host-marker" not in output and "ran" not in output
    pybox("delete", "--force", "c1")


# --- CVE-2019-5736: the runtime's binary is out of the container's reach ---------------------------

def test_exec_process_is_dumpable_again_after_execve(pybox, bundle):
    # The set-up runs non-dumpable; execve makes the container's program dumpable again, as runc's
    # is: its /proc entries belong to its own user rather than to root.
    started(pybox, bundle)
    out = pybox("exec", "-u", "1000:1000", "c1", "sh", "-c", "stat -c %u /proc/$$ /proc/$$/fd").stdout
    assert out.split() == ["1000", "1000"]
    pybox("delete", "--force", "c1")


def test_exec_set_up_is_not_reachable_through_proc_exe(pybox, bundle):
    # While pybox sets an exec'd process up, the host's Python runs in the container's pid
    # namespace. A watcher in the container (root, with the same capabilities as the process once
    # it has dropped to them) must not reach that binary through /proc/<pid>/exe. A long PATH
    # keeps the set-up busy looking for the program after the capabilities are dropped, so that
    # only non-dumpability stands between the watcher and the binary.
    bundle.args("sh", "-c", "while :; do ls -l /proc/[0-9]*/exe; done > /tmp/seen 2>&1")
    pybox("run", "-d", "-b", bundle.path, "c1")
    long_path = "PATH=" + ":".join(["/missing"] * 12000) + ":/bin"
    seen = os.path.join(bundle.rootfs, "tmp/seen")
    caught = []
    for _ in range(20):  # until the watcher has caught set-ups in progress
        pybox("exec", "-e", long_path, "c1", "true")
        with open(seen, errors="replace") as f:
            lines = f.read().splitlines()
        caught = [line for line in lines if "/exe" in line and "Permission denied" in line]
        if len(caught) >= 10:
            break
    pybox("delete", "--force", "c1")
    assert caught, "the watcher never caught an exec being set up"
    assert not [line for line in lines if "python" in line or "/opt/pybox" in line]


# --- terminals, fds and cgroups given to exec ------------------------------------------------------

def test_exec_console_socket_gets_the_terminal(pybox, bundle, tmp_path):
    import array
    import socket
    started(pybox, bundle)
    path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    pybox("exec", "--tty", "--detach", "--console-socket", path, "c1", "sh")
    conn, _ = server.accept()
    _, ancillary, _, _ = conn.recvmsg(16, socket.CMSG_SPACE(4))
    master = array.array("i", ancillary[0][2][:4])[0]
    os.write(master, b"tty; echo sum-$((20 + 22)); exit 7\n")
    output = read_until(master, b"sum-42")
    os.close(master)
    conn.close()
    server.close()
    assert b"sum-42" in output and b"/dev/pts/" in output
    pybox("delete", "--force", "c1")


def test_exec_tty_leaves_dev_console_alone(pybox, bundle):
    # Only the container's init gets its terminal bound over /dev/console (as with runc): an
    # exec's pty is its stdio, and every exec -t would otherwise stack one more mount.
    started(pybox, bundle)

    def mounts():
        return pybox("exec", "c1", "cat", "/proc/1/mountinfo").stdout.splitlines()

    before = mounts()
    for _ in range(2):
        code, output = in_a_pty([PYBOX_RUNC, "--root", pybox.root, "exec", "-t", "c1", "tty"])
        assert code == 0 and b"/dev/pts/" in output
    assert mounts() == before
    pybox("delete", "--force", "c1")


def test_exec_preserve_fds(pybox, bundle, tmp_path):
    started(pybox, bundle)
    with open(tmp_path / "out", "w") as target:
        # bash puts the file at fds 3 and 5 of pybox: --preserve-fds 1 passes on 3 only.
        proc = subprocess.run(
            ["bash", "-c", f'exec 3>&{target.fileno()} 5>&{target.fileno()}; exec "$@"', "bash",
             PYBOX_RUNC, "--root", pybox.root, "exec", "--preserve-fds", "1", "c1",
             "sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd | tr '\\n' ' ' >&3"],
            pass_fds=(target.fileno(),), timeout=30)
    assert proc.returncode == 0
    first, fds = (tmp_path / "out").read_text().split("\n", 1)
    assert first == "through-fd3"
    assert sorted(fds.split()) == ["0", "1", "2", "3", "4"]  # 4 is ls's own directory handle
    pybox("delete", "--force", "c1")


UNIFIED = os.path.exists("/sys/fs/cgroup/cgroup.controllers")  # a cgroup v2 host (the VM tier)


def container_cgroup_dirs(pid):
    """{hierarchy name as /proc/PID/cgroup gives it ("" for v2): host directory}."""
    dirs = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.strip().split(":", 2)
            mount = controllers.replace("name=", "") if controllers else ("" if UNIFIED else "unified")
            if os.path.isdir(f"/sys/fs/cgroup/{mount}"):
                dirs[controllers] = os.path.normpath(f"/sys/fs/cgroup/{mount}/{path}")
    return dirs


def make_cgroup(directory):
    os.mkdir(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):  # a new v1 cpuset cgroup starts with none
        if os.path.exists(os.path.join(directory, name)):
            with open(os.path.join(os.path.dirname(directory), name)) as f:
                value = f.read()
            with open(os.path.join(directory, name), "w") as f:
                f.write(value)


def cgroups_of_exec(pybox, *args):
    """{hierarchy: path} as `cat /proc/self/cgroup` prints them in a process exec'd with args."""
    out = pybox("exec", *args, "c1", "cat", "/proc/self/cgroup").stdout
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in out.splitlines()}


def test_exec_cgroup_joins_an_existing_sub_cgroup(pybox, bundle):
    pid = started(pybox, bundle)
    for directory in container_cgroup_dirs(pid).values():
        make_cgroup(os.path.join(directory, "sub"))
    # The container has its own cgroup namespace: its cgroup is "/" there.
    assert set(cgroups_of_exec(pybox).values()) == {"/"}
    assert set(cgroups_of_exec(pybox, "--cgroup", "sub").values()) == {"/sub"}
    if UNIFIED:  # one hierarchy: a path per controller means nothing (runc refuses it too)
        result = pybox("exec", "--cgroup", "memory:/sub", "c1", "true", check=False)
        assert result.returncode == 1 and "no memory cgroup" in result.stderr
    else:
        paths = cgroups_of_exec(pybox, "--cgroup", "memory:/sub", "--cgroup", "pids,freezer:sub")
        assert {name for name, path in paths.items() if path == "/sub"} == {"memory", "pids", "freezer"}
        assert {path for name, path in paths.items() if name not in ("memory", "pids", "freezer")} == {"/"}
    pybox("delete", "--force", "c1")  # removes the sub-cgroups with the container's


def test_exec_cgroup_must_exist_inside_the_container_cgroup(pybox, bundle):
    pid = started(pybox, bundle)
    own = container_cgroup_dirs(pid)["" if UNIFIED else "memory"]
    cases = [("missing", "no such cgroup"), ("../..", "not a sub-cgroup"), ("nope:sub", "no nope cgroup"),
             ("memory:a:b", "CONTROLLER"), ("sub", "no such cgroup")]
    if not UNIFIED:
        cases.append(("memory:../x", "not a sub-cgroup"))
    for cgroup, complaint in cases:
        result = pybox("exec", "--cgroup", cgroup, "c1", "true", check=False)
        assert result.returncode == 1 and complaint in result.stderr, (cgroup, result.stderr)
        assert len(result.stderr.splitlines()) == 1
    # Nothing was made on the way, and no process was started.
    assert not os.path.exists(os.path.join(own, "missing"))
    assert not os.path.exists(os.path.join(os.path.dirname(own), "x"))
    assert json.loads(pybox("ps", "--format", "json", "c1").stdout) == [pid]
    pybox("delete", "--force", "c1")


def test_exec_joins_every_namespace_of_the_container(pybox, bundle):
    # The process is forked straight into the container's pid namespace and joins the others,
    # user and time included, itself.
    bundle.in_user_namespace()
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    kinds = [ns["type"] for ns in bundle.config["linux"]["namespaces"]]
    pid = started(pybox, bundle)
    script = "; ".join(f"readlink /proc/self/ns/{NAMESPACE_FILES[kind]}" for kind in kinds)
    out = pybox("exec", "c1", "sh", "-c", f"{script}; id -u").stdout.split()
    assert out == [os.readlink(f"/proc/{pid}/ns/{NAMESPACE_FILES[kind]}") for kind in kinds] + ["0"]
    pybox("delete", "--force", "c1")

