"""The runc lifecycle contract, as podman (through conmon) and containerd's shim use it."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from integration.conftest import PYBOX_RUNC, parent_seen_by_a_subreaper


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def cgroup_dirs(cgroups_path):
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrl, path = line.strip().split(":", 2)
            own[ctrl] = path
    dirs = []
    for ctrl, path in own.items():
        name = ctrl.replace("name=", "") if ctrl else "unified"
        base = f"/sys/fs/cgroup/{name}"
        if os.path.isdir(base):
            dirs.append(os.path.normpath(f"{base}{path}/{cgroups_path}"))
    return dirs


def test_run_exits_with_the_container_status(pybox, bundle):
    bundle.args("sh", "-c", "echo hello; exit 7")
    result = pybox("--log", "/dev/null", "run", "--bundle", bundle.path, "c1", check=False)
    assert result.returncode == 7
    assert result.stdout == "hello\n"
    assert not os.path.exists(os.path.join(pybox.root, "c1"))


def test_run_killed_by_a_signal_gives_128_plus_signal(pybox, bundle):
    bundle.args("sleep", "1000")
    run = subprocess.Popen([PYBOX_RUNC, "--root", pybox.root, "run", "-b", bundle.path, "c1"])
    assert wait_for(lambda: os.path.exists(os.path.join(pybox.root, "c1", "state.json"))
                    and pybox("state", "c1", check=False).returncode == 0
                    and pybox.state("c1")["status"] == "running")
    pybox("kill", "c1", "KILL")
    assert run.wait(timeout=10) == 128 + 9


def test_the_runtime_stays_in_its_own_cgroups(pybox, bundle):
    # pybox moves itself into the cgroup it is already in (pybox.cgroups.warmup): a no-op.
    bundle.args("sleep", "1000")
    run = subprocess.Popen([PYBOX_RUNC, "--root", pybox.root, "run", "-b", bundle.path, "c1"])
    assert wait_for(lambda: pybox("state", "c1", check=False).returncode == 0
                    and pybox.state("c1")["status"] == "running")
    with open(f"/proc/{run.pid}/cgroup") as theirs, open("/proc/self/cgroup") as ours:
        assert theirs.read() == ours.read()
    pybox("kill", "c1", "KILL")
    assert run.wait(timeout=10) == 128 + 9


def test_run_forwards_signals_to_the_container(pybox, bundle):
    bundle.args("sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done")
    run = subprocess.Popen([PYBOX_RUNC, "--root", pybox.root, "run", "-b", bundle.path, "c1"])
    assert wait_for(lambda: pybox("state", "c1", check=False).returncode == 0
                    and pybox.state("c1")["status"] == "running")
    time.sleep(0.2)  # let the shell install its trap
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=10) == 42


def test_run_keep_leaves_a_stopped_container(pybox, bundle):
    bundle.args("true")
    pybox("run", "--keep", "--bundle", bundle.path, "c1")
    assert pybox.state("c1")["status"] == "stopped"
    pybox("delete", "c1")


def test_create_start_kill_delete(pybox, bundle, tmp_path):
    bundle.args("sleep", "1000")
    pid_file = tmp_path / "init.pid"
    # pybox does not stay the init's parent: the caller (a subreaper, like conmon) adopts it.
    assert parent_seen_by_a_subreaper(pybox, pid_file, "create", "--bundle", bundle.path,
                                      "--pid-file", str(pid_file), "c1")
    state = pybox.state("c1")
    assert state["status"] == "created"
    assert state["pid"] == int(pid_file.read_text())
    assert state["bundle"] == bundle.path and state["id"] == "c1"
    assert state["rootfs"] == bundle.rootfs
    for key in ("ociVersion", "created", "annotations", "owner"):
        assert key in state
    # The shim looks for the fifo among the init's fds.
    fds = [os.readlink(f"/proc/{state['pid']}/fd/{fd}") for fd in os.listdir(f"/proc/{state['pid']}/fd")]
    assert os.path.join(pybox.root, "c1", "exec.fifo") in fds
    pybox("start", "c1")
    assert pybox.state("c1")["status"] == "running"
    assert wait_for(lambda: open(f"/proc/{state['pid']}/cmdline").read().startswith("sleep"))
    pybox("kill", "c1", "KILL")
    assert wait_for(lambda: pybox.state("c1")["status"] == "stopped")
    assert pybox.state("c1")["pid"] == 0
    pybox("delete", "c1")
    assert not os.path.exists(os.path.join(pybox.root, "c1"))
    assert not any(os.path.exists(d) for d in cgroup_dirs(bundle.config["linux"]["cgroupsPath"]))


def test_init_is_in_the_cgroup_after_create(pybox, bundle):
    bundle.args("sleep", "1000")
    pybox("create", "-b", bundle.path, "c1")
    pid = pybox.state("c1")["pid"]
    assert json.loads(pybox("ps", "--format", "json", "c1").stdout) == [pid]
    table = pybox("ps", "c1").stdout.splitlines()
    assert "PID" in table[0] and str(pid) in table[1]
    pybox("delete", "--force", "c1")


@pytest.mark.parametrize("sig", ["USR1", "SIGUSR1", "10"])
def test_kill_takes_names_and_numbers(pybox, bundle, sig):
    bundle.args("sh", "-c", "trap 'echo got > /tmp/sig; exit 0' USR1; while :; do sleep 0.05; done")
    pybox("run", "-d", "-b", bundle.path, "c1")
    pybox("kill", "c1", sig)
    assert wait_for(lambda: os.path.exists(os.path.join(bundle.rootfs, "tmp/sig")))
    pybox("delete", "--force", "c1")


def test_kill_all_signals_every_process(pybox, bundle):
    bundle.args("sh", "-c", "sleep 1000 & sleep 1000 & wait")
    pybox("run", "-d", "-b", bundle.path, "c1")
    assert wait_for(lambda: len(json.loads(pybox("ps", "--format", "json", "c1").stdout)) >= 3)
    pybox("kill", "--all", "c1", "9")
    assert wait_for(lambda: pybox.state("c1")["status"] == "stopped")
    pybox("delete", "c1")


def test_errors_for_missing_and_stopped_containers(pybox, bundle):
    for args in (["state", "nope"], ["kill", "nope"], ["delete", "nope"], ["start", "nope"]):
        result = pybox(*args, check=False)
        assert result.returncode == 1
        assert result.stderr.strip().endswith("container does not exist"), result.stderr
        assert "Traceback" not in result.stderr
    assert pybox("delete", "--force", "nope").returncode == 0
    bundle.args("true")
    pybox("run", "--keep", "-b", bundle.path, "c1")
    result = pybox("kill", "c1", "9", check=False)
    assert result.returncode == 1 and "container not running" in result.stderr
    pybox("delete", "c1")


def test_delete_refuses_a_running_container_unless_forced(pybox, bundle):
    bundle.args("sleep", "1000")
    pybox("run", "-d", "-b", bundle.path, "c1")
    result = pybox("delete", "c1", check=False)
    assert result.returncode == 1 and "not stopped" in result.stderr
    pid = pybox.state("c1")["pid"]
    pybox("delete", "--force", "c1")
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2])


def test_json_log_gets_the_error_line(pybox, tmp_path):
    log = tmp_path / "log.json"
    result = pybox("--log", str(log), "--log-format", "json", "state", "nope", check=False)
    assert result.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container does not exist" and entry["time"]


def test_debug_and_text_log(pybox, bundle, tmp_path):
    log = tmp_path / "log.txt"
    result = pybox("--debug", "--log", str(log), "state", "nope", check=False)
    assert result.returncode == 1 and result.stderr == "pybox: container does not exist\n"
    lines = log.read_text().splitlines()
    assert [line.split(" ", 2)[1] for line in lines] == ["level=debug", "level=error", "level=debug"]
    assert lines[0].endswith('msg="command: state nope"')
    assert lines[1].startswith('time="') and lines[1].endswith('msg="container does not exist"')
    assert 'msg="state: exit status 1 after ' in lines[2]
    # Without --log, debug lines go to stderr.
    result = pybox("--debug", "list", "-q")
    assert result.stderr.startswith("pybox: debug: command: list -q\n")


def test_poststop_hook_failure_reaches_the_log(pybox, bundle, tmp_path):
    log = tmp_path / "log.json"
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"}]}
    bundle.args("true")
    pybox("--log", str(log), "--log-format", "json", "run", "-b", bundle.path, "c1")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    # runtime-spec: a failing poststop hook is a warning; delete still succeeds.
    assert [e["level"] for e in entries] == ["warning"] and "hooks.poststop[0]" in entries[0]["msg"]


def test_duplicate_id_is_refused(pybox, bundle):
    bundle.args("sleep", "1000")
    pybox("create", "-b", bundle.path, "c1")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert pybox.state("c1")["status"] == "created"
    pybox("delete", "--force", "c1")


def test_concurrent_creates_of_one_id_make_one_container(pybox, bundle):
    bundle.args("sleep", "1000")
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        pybox("create", "-b", bundle.path, "same", check=False).returncode)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 1, 1]
    pybox("delete", "--force", "same")


def test_state_is_never_seen_half_written(pybox, bundle):
    # Readers race create, start, kill and delete: each answer is a whole state or "does not exist".
    bundle.args("sleep", "1000")
    answers, done = [], threading.Event()

    def read():
        while not done.is_set():
            answers.append(pybox("state", "c1", check=False))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            pybox("create", "-b", bundle.path, "c1")
            pybox("start", "c1")
            pybox("kill", "c1", "KILL")
            pybox("delete", "--force", "c1")
    finally:
        done.set()
        reader.join()
    seen = set()
    for answer in answers:
        if answer.returncode == 0:
            seen.add(json.loads(answer.stdout)["status"])
        else:
            assert answer.stderr == "pybox: container does not exist\n", answer.stderr
    assert seen, "the reader never saw the container"


@pytest.mark.parametrize("bad", ["../x", "a/b", ".", ""])
def test_invalid_ids_are_refused(pybox, bundle, bad):
    result = pybox("create", "-b", bundle.path, bad, check=False)
    assert result.returncode == 1 and "invalid container id" in result.stderr


def test_list_in_table_and_json(pybox, bundle):
    bundle.args("sleep", "1000")
    pybox("create", "-b", bundle.path, "c1")
    table = pybox("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and table[1].split()[2] == "created"
    listed = json.loads(pybox("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == ["c1"]
    assert pybox("list", "-q").stdout.split() == ["c1"]
    pybox("delete", "--force", "c1")


def test_pause_freezes_and_resume_thaws(pybox, bundle):
    bundle.args("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done")
    pybox("run", "-d", "-b", bundle.path, "c1")
    counter = os.path.join(bundle.rootfs, "tmp/n")
    assert wait_for(lambda: os.path.exists(counter))
    pybox("pause", "c1")
    assert pybox.state("c1")["status"] == "paused"
    first = open(counter).read()
    time.sleep(0.3)
    assert open(counter).read() == first
    pybox("resume", "c1")
    assert pybox.state("c1")["status"] == "running"
    assert wait_for(lambda: open(counter).read() not in (first, ""))
    pybox("delete", "--force", "c1")


def test_create_killed_midway_is_removed_by_delete_force(pybox, bundle, tmp_path):
    marker = tmp_path / "hook-pid"
    bundle.args("sleep", "1000")
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {marker}.tmp; mv {marker}.tmp {marker}; exec sleep 1000"]}]}
    bundle.write()
    proc = subprocess.Popen([PYBOX_RUNC, "--root", pybox.root, "create", "-b", bundle.path, "c1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(marker.exists)
    proc.kill()
    proc.wait()
    pybox("delete", "--force", "c1")
    assert not os.path.exists(os.path.join(pybox.root, "c1"))
    assert wait_for(lambda: not any(os.path.exists(d) for d in cgroup_dirs(bundle.config["linux"]["cgroupsPath"])))
    _kill_hook_processes(marker)


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.04, 0.06, 0.09, 0.13])
def test_create_killed_at_any_moment_leaves_nothing_after_delete_force(pybox, bundle, delay):
    bundle.args("sleep", "1000")
    proc = subprocess.Popen([PYBOX_RUNC, "--root", pybox.root, "create", "-b", bundle.path, "c1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    pybox("delete", "--force", "c1")
    assert not os.path.exists(os.path.join(pybox.root, "c1"))
    assert wait_for(lambda: not any(os.path.exists(d) for d in cgroup_dirs(bundle.config["linux"]["cgroupsPath"])))
    from integration.conftest import processes_rooted_in
    assert wait_for(lambda: not processes_rooted_in(bundle.rootfs))


def _kill_hook_processes(marker):
    """The hook (now `sleep 1000`, same pid) outlives the killed create: it is ours, end it by pid."""
    pid = int(marker.read_text())
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().split(b"\0")[:2] == [b"sleep", b"1000"]:
                os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def test_spec_writes_a_config_and_refuses_to_overwrite(pybox, tmp_path):
    pybox("spec", "--bundle", str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    assert pybox("spec", "--bundle", str(tmp_path), check=False).returncode == 1
    rootless = tmp_path / "rl"
    rootless.mkdir()
    pybox("spec", "--rootless", "-b", str(rootless))
    types = [n["type"] for n in json.loads((rootless / "config.json").read_text())["linux"]["namespaces"]]
    assert "user" in types and "network" not in types


def test_the_rootless_spec_maps_the_caller_and_runs(pybox, tmp_path, busybox_rootfs):
    shutil.copytree(busybox_rootfs, tmp_path / "rootfs", symlinks=True)
    pybox("spec", "--rootless", "-b", str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    config["process"].update(terminal=False, args=["cat", "/proc/self/uid_map"])
    # runc's rootless spec binds the host's /dev/mqueue, which this VM does not mount.
    config["mounts"] = [m for m in config["mounts"] if os.path.exists(m["source"]) or m["type"] != "none"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = pybox("run", "-b", str(tmp_path), "c1")
    assert result.stdout.split() == ["0", str(os.geteuid()), "1"]


def test_features_is_json(pybox):
    features = json.loads(pybox("features").stdout)
    assert "pid" in features["linux"]["namespaces"] and features["ociVersionMax"].startswith("1.")


def test_version_and_help(pybox):
    assert "pybox-runc version" in pybox("--version").stdout
    assert "create" in pybox("--help").stdout
    assert "--bundle" in pybox("create", "--help").stdout


class FakeSystemd:
    """The host end of NOTIFY_SOCKET: records datagrams and acknowledges BARRIER=1 by closing
    the pipe that comes with it, as systemd does."""

    def __init__(self, path):
        import socket
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import socket
        while not self.stopping:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(4))
            except TimeoutError:
                continue
            self.messages.append(data)
            for _, _, raw in ancillary:
                os.close(int.from_bytes(raw[:4], "little"))

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


def notifying_process(bundle):
    """The container sends READY=1 on $NOTIFY_SOCKET with the host's python, bound read-only."""
    for directory in ("/usr", "/lib", "/lib64"):
        bundle.config["mounts"].append({"destination": directory, "type": "bind", "source": directory,
                                        "options": ["rbind", "ro"]})
    bundle.args("/usr/bin/python3", "-c",
                "import os, socket, time; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                "s.connect(os.environ['NOTIFY_SOCKET']); time.sleep(0.3); s.send(b'STATUS=up\\nREADY=1'); "
                "time.sleep(1000)")


def test_notify_socket_start_waits_for_ready_and_passes_it_on(pybox, bundle, tmp_path):
    # runc's contract under systemd Type=notify (and podman --sdnotify=container): NOTIFY_SOCKET.
    notifying_process(bundle)
    host = FakeSystemd(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=host.path)
    try:
        pybox("create", "-b", bundle.path, "c1", env=env)
        pid = pybox.state("c1")["pid"]
        pybox("start", "c1", env=env)  # returns once the container said READY=1
        assert host.messages[:3] == [b"READY=1\n", f"MAINPID={pid}\n".encode(), b"BARRIER=1"]
        assert pybox.state("c1")["status"] == "running"
    finally:
        pybox("delete", "--force", "c1", check=False)
        host.close()


def test_run_notify_socket_flag_and_a_container_that_exits_first(pybox, bundle, tmp_path):
    host = FakeSystemd(tmp_path / "notify.sock")
    try:
        bundle.args("sh", "-c", "test \"$NOTIFY_SOCKET\" = /run/notify/notify.sock")
        result = pybox("run", "--notify-socket", host.path, "-b", bundle.path, "c1", check=False)
        assert result.returncode == 0, result.stderr  # no READY: run returns when it exits
        assert host.messages == []
    finally:
        host.close()
