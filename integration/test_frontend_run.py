"""`pybox run IMAGE CMD` with docker's flags, on real containers from the busybox image."""

import json
import os
import signal
import subprocess
import time

import pytest

from integration.registry import registry  # noqa: F401 (fixture)
from tests.engine.frontend import Docker, docker, storage  # noqa: F401 (fixtures)

NONE = ("--network", "none")


def test_readme_first_command(docker):
    result = docker("run", "--rm", *NONE, "busybox", "echo", "hello")
    assert result.stdout == "hello\n"
    assert docker.out("ps", "-a") .count("\n") == 1  # the header only: --rm removed it


def test_exit_status_is_the_containers(docker):
    assert docker("run", "--rm", *NONE, "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    missing = docker("run", "--rm", *NONE, "busybox", "/no/such/program", check=False)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert docker.out("ps", "-a", "-q") == ""  # --rm: gone even though it never started


def test_a_kept_container_shows_its_exit_in_ps(docker):
    docker("run", "--name", "done", *NONE, "busybox", "sh", "-c", "exit 3", check=False)
    rows = json.loads(docker.out("ps", "-a", "--format", "json"))
    assert [(r["Names"], r["State"], r["ExitCode"]) for r in rows] == [("done", "exited", 3)]
    assert "Exited (3)" in docker.out("ps", "-a")
    assert docker.out("ps") .count("\n") == 1  # not running: only with -a


def test_env_workdir_user_hostname(docker, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    out = docker.out("run", "--rm", *NONE, "-e", "A=b c", "--env-file", str(env_file), "-w", "/tmp",
                     "-u", "app", "--hostname", "box1", "busybox",
                     "sh", "-c", 'echo "$A|$FROM_FILE|$(pwd)|$(id -un):$(id -gn)|$(hostname)|$HOME"')
    assert out == "b c|1|/tmp|app:app|box1|/home/app\n"


def test_entrypoint_replaces_the_command(docker):
    assert docker.out("run", "--rm", *NONE, "--entrypoint", "echo", "busybox", "a", "b") == "a b\n"


def test_volume_bind_read_write_and_read_only(docker, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    docker("run", "--rm", *NONE, "-v", f"{shared}:/data", "busybox", "sh", "-c", "echo hi > /data/f")
    assert (shared / "f").read_text() == "hi\n"
    ro = docker("run", "--rm", *NONE, "-v", f"{shared}:/data:ro", "busybox", "sh", "-c",
                "echo no > /data/g", check=False)
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr


def test_tmpfs_and_read_only_root(docker):
    out = docker.out("run", "--rm", *NONE, "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
                     "touch /x 2>/dev/null && echo writable; touch /scratch/y && echo tmpfs ok")
    assert out == "tmpfs ok\n"


def test_docker_default_capabilities_and_seccomp(docker):
    status = docker.out("run", "--rm", *NONE, "busybox", "grep", "-E", "^(CapEff|Seccomp):",
                        "/proc/self/status")
    assert "CapEff:\t00000000a80425fb" in status  # exactly Docker's default set
    assert "Seccomp:\t2" in status
    privileged = docker.out("run", "--rm", *NONE, "--privileged", "busybox", "grep", "Seccomp:",
                            "/proc/self/status")
    assert privileged == "Seccomp:\t0\n"
    devices = docker.out("run", "--rm", *NONE, "--privileged", "busybox", "sh", "-c",
                         "test -b /dev/vda && echo host-disk; grep ' /sys ' /proc/mounts | grep -c ' rw,'")
    assert devices.split() == ["host-disk", "1"]
    unconfined = docker.out("run", "--rm", *NONE, "--security-opt", "seccomp=unconfined", "busybox",
                            "grep", "Seccomp:", "/proc/self/status")
    assert unconfined == "Seccomp:\t0\n"


def test_cap_drop_and_cap_add(docker):
    dropped = docker("run", "--rm", *NONE, "--cap-drop", "CHOWN", "busybox", "chown", "1", "/tmp",
                     check=False)
    assert dropped.returncode != 0 and "Operation not permitted" in dropped.stderr
    added = docker.out("run", "--rm", *NONE, "--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff",
                       "/proc/self/status")
    assert added.split()[1] == "00000000a82425fb"


def test_masked_proc_paths(docker):
    assert os.path.getsize("/proc/keys") == 0 and open("/proc/keys").read()  # the host has keys
    out = docker.out("run", "--rm", *NONE, "busybox", "sh", "-c", "wc -c < /proc/keys; "
                     "echo 1 > /proc/sys/kernel/sysrq 2>/dev/null || echo ro")
    assert out.split() == ["0", "ro"]


def test_memory_pids_and_cpu_limits_reach_the_cgroup(docker):
    out = docker.out("run", "--rm", *NONE, "-m", "64m", "--pids-limit", "20", "--cpus", "0.5",
                     "--cpu-shares", "512", "busybox", "sh", "-c",
                     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                     "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares")
    assert out.split() == [str(64 << 20), "20", "50000", "512"]


def test_no_new_privileges_on_request(docker):
    assert "NoNewPrivs:\t0" in docker.out("run", "--rm", *NONE, "busybox", "cat", "/proc/self/status")
    out = docker.out("run", "--rm", *NONE, "--security-opt", "no-new-privileges", "busybox", "cat",
                     "/proc/self/status")
    assert "NoNewPrivs:\t1" in out


def test_ulimit(docker):
    out = docker.out("run", "--rm", *NONE, "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
                     "ulimit -n; ulimit -Hn")
    assert out.split() == ["100", "200"]


def test_dns_and_add_host_in_the_etc_files(docker):
    out = docker.out("run", "--rm", *NONE, "--dns", "192.0.2.53", "--add-host", "db:192.0.2.7",
                     "--hostname", "web", "busybox", "cat", "/etc/resolv.conf", "/etc/hosts",
                     "/etc/hostname")
    assert "nameserver 192.0.2.53" in out
    assert "192.0.2.7\tdb" in out
    assert out.endswith("web\n")


def test_network_none_has_only_loopback(docker):
    out = docker.out("run", "--rm", *NONE, "busybox", "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    assert "UP" in out


def test_network_host_sees_the_hosts_interfaces(docker):
    out = docker.out("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    with open("/proc/net/dev") as f:
        assert out.count("\n") == f.read().count("\n")


def test_signals_reach_the_container(docker):
    proc = subprocess.Popen(docker.argv("run", "--rm", *NONE, "busybox", "sh", "-c",
                                        "trap 'echo got TERM; exit 5' TERM; echo ready; "
                                        "while :; do sleep 0.1; done"),
                            env=docker.env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.read() == "got TERM\n"
    assert proc.wait(10) == 5


def test_stdin_only_with_i(docker):
    assert docker.out("run", "--rm", "-i", *NONE, "busybox", "cat", input="typed\n") == "typed\n"
    assert docker.out("run", "--rm", *NONE, "busybox", "cat", input="typed\n") == ""


@pytest.mark.parametrize("args, message", [
    (["nosuchimage-xyz:1"], "nosuchimage"),
    (["-m", "lots", "busybox", "true"], "--memory 'lots'"),
    (["--network", "mars", "busybox", "true"], "--network 'mars'"),
    (["-v", "relative:dir", "busybox", "true"], "--volume"),
    (["--cap-add", "NOPE", "busybox", "true"], "unknown capability"),
    (["-p", "99999:80", "busybox", "true"], "publish"),
    (["--security-opt", "seccomp=/nonexistent.json", "busybox", "true"], "seccomp=/nonexistent.json"),
    (["--entrypoint", "", "busybox"], "no command"),
    (["-u", "nobody-here", "busybox", "true"], "nobody-here"),
])
def test_bad_input_is_one_line_and_leaves_nothing(docker, args, message, monkeypatch):
    docker.env["PYBOX_REGISTRY_TIMEOUT"] = "1"
    result = docker("run", "--rm", *NONE, *args, check=False, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    if lines[0].startswith("Unable to find image"):  # docker's note before it pulls
        lines = lines[1:]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert docker.out("ps", "-a", "-q") == ""


def test_names_are_unique(docker):
    docker("run", "--name", "one", *NONE, "busybox", "true")
    again = docker("run", "--name", "one", *NONE, "busybox", "true", check=False)
    assert again.returncode == 125 and "already in use" in again.stderr


def test_network_container_shares_a_network_namespace(docker):
    docker("run", "-d", "--name", "first", *NONE, "busybox", "sleep", "30")
    first = docker.out("exec", "first", "readlink", "/proc/1/ns/net")
    second = docker.out("run", "--rm", "--network", "container:first", "busybox", "readlink",
                        "/proc/self/ns/net")
    assert first == second


def test_runtime_run_of_a_bundle_is_reached_through_pybox_runtime(docker, tmp_path):
    from pybox.runtime.defaults import default_spec
    bundle = tmp_path / "bundle"
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    spec = default_spec()
    spec["process"].update(terminal=False, args=["/hello"])
    spec["linux"]["cgroupsPath"] = f"pybox-test/{os.getpid()}-{time.monotonic_ns()}"
    (bundle / "config.json").write_text(json.dumps(spec))
    import shutil
    shutil.copy("/bin/busybox", rootfs / "busybox")
    os.symlink("busybox", rootfs / "hello")
    spec["process"]["args"] = ["/busybox", "echo", "from a bundle"]
    (bundle / "config.json").write_text(json.dumps(spec))
    result = subprocess.run(docker.argv("runtime", "run", "--bundle", str(bundle), "bundled"), env=docker.env,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert result.stdout == "from a bundle\n", result.stderr
    assert result.returncode == 0


def test_init_runs_tini_as_pid_1_and_keeps_the_status(docker):
    out = docker.out("run", "--rm", *NONE, "--init", "busybox", "ps", "-o", "pid,args")
    assert "1 /sbin/docker-init -- ps" in out
    assert docker("run", "--rm", *NONE, "--init", "busybox", "sh", "-c", "exit 4", check=False).returncode == 4


def test_detached_with_a_terminal_logs_through_the_pty(docker):
    docker("run", "-dt", "--name", "tty", *NONE, "busybox", "sh", "-c", "tty; echo hi")
    docker("wait", "tty")
    assert docker.out("logs", "tty") == "/dev/pts/0\r\nhi\r\n"


def test_run_pulls_a_missing_image_from_a_registry(docker, registry, tmp_path):
    docker("push", "--tls-verify=false", "busybox", f"{registry.host}/fe/busybox:1")
    fresh = Docker(tmp_path / "state2", str(tmp_path / "fresh-store"))
    try:
        result = fresh("run", "--rm", *NONE, f"{registry.host}/fe/busybox:1", "echo", "pulled")
        assert result.stdout == "pulled\n"
        assert "Unable to find image" in result.stderr
        assert f"{registry.host}/fe/busybox" in fresh.out("images")
    finally:
        fresh.remove_all()


def test_a_foreground_container_keeps_its_logs(docker):
    result = docker("run", "--name", "fg", *NONE, "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    logs = docker("logs", "fg")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")


def test_seccomp_profile_from_a_file(docker, tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    result = docker("run", "--rm", *NONE, "--security-opt", f"seccomp={profile}", "busybox",
                    "mkdir", "/tmp/x", check=False)
    assert result.returncode == 1 and "Operation not permitted" in result.stderr


def test_image_volumes_become_anonymous_volumes(docker, tmp_path):
    """VOLUMEs get a directory of their own, seeded from the image, resolved inside the rootfs."""
    from integration.busybox import build_rootfs
    from tests.images.layouts import Layout, entry
    rootfs = build_rootfs(str(tmp_path / "rootfs"))
    base = []
    for top, dirs, files in os.walk(rootfs):
        for name in dirs + files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, rootfs)
            if os.path.islink(path):
                base.append(entry(rel, "symlink", link=os.readlink(path)))
            elif os.path.isdir(path):
                base.append(entry(rel, "dir"))
            else:
                base.append(entry(rel, data=open(path, "rb").read(), mode=os.stat(path).st_mode & 0o7777))
    extra = [entry("data", "dir"), entry("data/seed", data=b"from the image\n"),
             entry("link", "symlink", link="/etc")]
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([base, extra], config={"Cmd": ["sh"], "Volumes": {"/data": {}, "/link": {}}}),
               "latest")
    docker("import", layout.path, "volimage")
    out = docker.out("run", "--rm", *NONE, "volimage", "sh", "-c",
                     "cat /data/seed; grep -c ' /data ' /proc/mounts; test -e /etc/debian_version || echo no-host-etc")
    assert out.split("\n")[:3] == ["from the image", "1", "no-host-etc"]
