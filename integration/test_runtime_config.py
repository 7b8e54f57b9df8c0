"""Each config.json field, checked from inside a real container."""

import json
import os
import socket
import subprocess
import sys

import pytest

from integration.conftest import PYBOX_RUNC
from pybox.runtime.spec import NAMESPACE_FILES


def run_output(pybox, bundle, *args):
    bundle.args(*args)
    result = pybox("run", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def status_field(text, name):
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {text!r}")


def test_hostname_and_domainname(pybox, bundle):
    bundle.config["hostname"] = "box1"
    bundle.config["domainname"] = "example.test"
    out = run_output(pybox, bundle, "sh", "-c", "hostname; cat /proc/sys/kernel/domainname")
    assert out.split() == ["box1", "example.test"]


def test_env_cwd_and_user(pybox, bundle):
    p = bundle.config["process"]
    p["env"] = ["PATH=/bin:/usr/bin", "GREETING=hi there"]
    p["cwd"] = "/home/app"
    p["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10], "umask": 0o027}
    out = run_output(pybox, bundle, "sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; id -G; umask')
    assert out.splitlines() == ["hi there", "/home/app", "1000", "1000", "1000 10", "0027"]


def test_missing_executable_fails_at_create(pybox, bundle):
    bundle.args("no-such-program")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "executable file not found" in result.stderr
    assert not os.path.exists(os.path.join(pybox.root, "c1"))


def test_rlimits(pybox, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    out = run_output(pybox, bundle, "sh", "-c", "ulimit -n; ulimit -H -n; ulimit -c")
    assert out.split() == ["123", "456", "0"]


def test_capabilities_and_no_new_privileges(pybox, bundle):
    # Default: runc's three capabilities; inheritable and ambient empty (CVE-2022-29162).
    out = run_output(pybox, bundle, "cat", "/proc/self/status")
    expected = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert int(status_field(out, "CapEff"), 16) == expected
    assert int(status_field(out, "CapBnd"), 16) == expected
    assert int(status_field(out, "CapInh"), 16) == 0
    assert int(status_field(out, "CapAmb"), 16) == 0
    assert status_field(out, "NoNewPrivs") == "1"


def test_ambient_and_inheritable_when_asked(pybox, bundle):
    caps = bundle.config["process"]["capabilities"]
    for kind in ("inheritable", "ambient"):
        caps[kind] = ["CAP_NET_BIND_SERVICE"]
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = run_output(pybox, bundle, "cat", "/proc/self/status")
    assert int(status_field(out, "CapAmb"), 16) == 1 << 10
    assert int(status_field(out, "CapEff"), 16) == 1 << 10  # ambient survives exec as non-root


def test_oom_score_adj(pybox, bundle):
    bundle.config["process"]["oomScoreAdj"] = 500
    assert run_output(pybox, bundle, "cat", "/proc/self/oom_score_adj").strip() == "500"


def test_readonly_root_and_paths_and_masks(pybox, bundle):
    bundle.config["root"]["readonly"] = True
    out = run_output(pybox, bundle, "sh", "-c",
                     "touch /x 2>/dev/null && echo root-rw || echo root-ro;"
                     "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-rw || echo sys-ro;"
                     "wc -c < /proc/keys; ls /sys/firmware | wc -l; touch /tmp/ok 2>/dev/null || echo tmp-ro")
    assert out.split() == ["root-ro", "sys-ro", "0", "0", "tmp-ro"]


def test_mounts_bind_tmpfs_and_options(pybox, bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "file").write_text("from host\n")
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "noexec"]},
        {"destination": "/deep/new/dir", "type": "tmpfs", "source": "tmpfs"},
    ]
    out = run_output(pybox, bundle, "sh", "-c",
                     "cat /data/file; touch /data/x 2>/dev/null || echo data-ro;"
                     "grep ' /scratch ' /proc/mounts; ls -d /deep/new/dir")
    lines = out.splitlines()
    assert lines[0] == "from host" and lines[1] == "data-ro"
    assert "noexec" in lines[2] and "size=1024k" in lines[2]
    assert lines[3] == "/deep/new/dir"


def test_recursive_readonly_option(pybox, bundle, tmp_path):
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    bundle.config["mounts"] += [
        {"destination": "/outer", "type": "bind", "source": str(outer), "options": ["rbind", "rro"]}]
    out = run_output(pybox, bundle, "sh", "-c", "touch /outer/inner/f 2>/dev/null && echo rw || echo ro")
    assert out.strip() == "ro"


def test_devices_defaults_and_extra(pybox, bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 0, "gid": 0}]
    out = run_output(pybox, bundle, "sh", "-c",
                     "for d in null zero full random urandom tty mynull; do test -c /dev/$d && echo $d; done;"
                     "echo x > /dev/mynull && echo wrote; for l in fd stdin ptmx; do readlink /dev/$l; done")
    assert out.split() == ["null", "zero", "full", "random", "urandom", "tty", "mynull", "wrote",
                           "/proc/self/fd", "/proc/self/fd/0", "pts/ptmx"]


def test_sysctl_in_own_network_namespace(pybox, bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    assert run_output(pybox, bundle, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"


def test_sysctl_outside_a_namespace_is_refused(pybox, bundle):
    bundle.config["linux"]["sysctl"] = {"vm.swappiness": "10"}
    bundle.write()
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "linux.sysctl.vm.swappiness" in result.stderr


def test_hooks_run_in_order_with_state(pybox, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    hooks = {}
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"):
        # createContainer runs in the container's mount namespace before pivot_root, startContainer
        # after it: both write where the host can see (the bundle's rootfs is bind-mounted there).
        target = "/tmp/hooks.log" if kind == "startContainer" else (
            f"{bundle.rootfs}/tmp/hooks.log" if kind == "createContainer" else str(log))
        hooks[kind] = [{"path": "/bin/sh", "args": ["sh", "-c", f"read s; echo {kind} \"$s\" >> {target}"]}]
    bundle.config["hooks"] = hooks
    bundle.config["annotations"] = {"org.example": "yes"}
    run_output(pybox, bundle, "true")
    host = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert [k for k, _ in host] == ["prestart", "createRuntime", "poststart", "poststop"]
    state = json.loads(host[0][1])
    assert state["id"] == "c1" and state["pid"] > 0 and state["annotations"] == {"org.example": "yes"}
    inside = [line.split(" ", 1)[0] for line in open(f"{bundle.rootfs}/tmp/hooks.log").read().splitlines()]
    assert inside == ["createContainer", "startContainer"]


def test_failing_create_hook_fails_create_cleanly(pybox, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "hooks.createRuntime[0]" in result.stderr
    assert not os.path.exists(os.path.join(pybox.root, "c1"))


def test_hook_timeout(pybox, bundle):
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "timed out" in result.stderr


def second_joining(tmp_path, busybox_rootfs, kind, pid):
    """A second bundle whose `kind` namespace is the one of process pid."""
    from integration.conftest import Bundle
    second = Bundle(tmp_path / "second", busybox_rootfs)
    second.config["linux"]["namespaces"] = [
        {"type": kind, "path": f"/proc/{pid}/ns/{NAMESPACE_FILES[kind]}"} if n["type"] == kind else n
        for n in second.config["linux"]["namespaces"]]
    return second


def test_join_another_containers_uts_namespace(pybox, bundle, tmp_path, busybox_rootfs):
    bundle.args("sleep", "1000")
    bundle.config["hostname"] = "first"
    bundle.write()
    pybox("run", "-d", "-b", bundle.path, "first")
    second = second_joining(tmp_path, busybox_rootfs, "uts", pybox.state("first")["pid"])
    second.config.pop("hostname")
    second.args("hostname")
    result = pybox("run", "-b", second.path, "second", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "first"
    pybox("delete", "--force", "first")


def test_join_another_containers_pid_namespace(pybox, bundle, tmp_path, busybox_rootfs):
    # A pod's shared pid namespace: the second container's processes are not pid 1 and see the first's.
    bundle.args("sleep", "1000")
    pybox("run", "-d", "-b", bundle.path, "first")
    second = second_joining(tmp_path, busybox_rootfs, "pid", pybox.state("first")["pid"])
    second.args("sh", "-c", "echo $$; ps -o pid,args")
    result = pybox("run", "-b", second.path, "second", check=False)
    assert result.returncode == 0, result.stderr
    own_pid, *table = result.stdout.splitlines()
    assert own_pid != "1"
    assert any(line.split(None, 1) == ["1", "sleep 1000"] for line in table)
    pybox("delete", "--force", "first")


def test_user_namespace_with_mappings(pybox, bundle):
    bundle.in_user_namespace()
    out = run_output(pybox, bundle, "sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/f; stat -c %u /tmp/f")
    lines = out.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "100000", "65536"]
    assert os.stat(os.path.join(bundle.rootfs, "tmp/f")).st_uid == 100000


def test_time_namespace_offsets(pybox, bundle):
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "time"})
    linux["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    uptime = float(run_output(pybox, bundle, "cat", "/proc/uptime").split()[0])
    host = float(open("/proc/uptime").read().split()[0])
    assert uptime - host > 86400 * 364


def test_time_offsets_in_a_user_namespace(pybox, bundle):
    # The offsets file is opened while the runtime is still the host's root: once in the user
    # namespace, the non-dumpable intermediate's /proc entries are no longer its own.
    bundle.in_user_namespace()
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    out = run_output(pybox, bundle, "sh", "-c", "id -u; cat /proc/uptime").split()
    assert out[0] == "0" and float(out[1]) - float(open("/proc/uptime").read().split()[0]) > 86400 * 364


def test_io_priority_and_scheduler(pybox, bundle):
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    bundle.args("sleep", "100")
    pybox("create", "-b", bundle.path, "c1")
    pybox("start", "c1")
    pid = pybox.state("c1")["pid"]
    ionice = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True, timeout=10)
    assert ionice.stdout.strip() == "best-effort: prio 6"
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert fields[16] == "5"  # nice
    assert fields[38] == "3"  # policy SCHED_BATCH
    pybox("delete", "--force", "c1")


def test_console_socket_gets_the_terminal(pybox, bundle, tmp_path):
    import array
    path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.args("sh", "-c", "stty size; tty")
    pybox("create", "-b", bundle.path, "--console-socket", path, "c1")
    conn, _ = server.accept()
    _, ancillary, _, _ = conn.recvmsg(16, socket.CMSG_SPACE(4))
    master = array.array("i", ancillary[0][2][:4])[0]
    pybox("start", "c1")
    output = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    conn.close()
    server.close()
    assert output.decode().split() == ["30", "100", "/dev/console"] or b"30 100" in output
    pybox("delete", "--force", "c1")


def test_terminal_without_console_socket_is_refused(pybox, bundle):
    bundle.config["process"]["terminal"] = True
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "console-socket" in result.stderr


def test_preserve_fds(pybox, bundle, tmp_path):
    bundle.args("sh", "-c", "echo through-fd3 >&3")
    with open(tmp_path / "out", "w") as target:
        # bash puts the file at fd 3 of pybox, where --preserve-fds 1 expects it.
        proc = subprocess.run(f"exec 3>&{target.fileno()}; {PYBOX_RUNC} --root {pybox.root} run "
                              f"--preserve-fds 1 -b {bundle.path} c1", shell=True,
                              executable="/bin/bash", pass_fds=(target.fileno(),), timeout=30)
    assert proc.returncode == 0
    assert (tmp_path / "out").read_text() == "through-fd3\n"


def without_mount_namespace(config):
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "mount"]


def test_fields_that_need_a_mount_namespace_are_refused_without_one(pybox, bundle):
    without_mount_namespace(bundle.config)
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["pybox: config.json: mounts: needs a new mount namespace"]
    assert not os.path.exists(pybox.root) or os.listdir(pybox.root) == []


def test_without_a_mount_namespace_init_and_exec_are_chrooted(pybox, bundle):
    without_mount_namespace(bundle.config)
    for key in ("maskedPaths", "readonlyPaths", "devices"):
        bundle.config["linux"].pop(key, None)
    bundle.config["mounts"] = []
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    with open(os.path.join(bundle.rootfs, "marker"), "w") as f:
        f.write("this rootfs\n")
    bundle.args("sleep", "100")
    pybox("create", "-b", bundle.path, "c1")
    pid = pybox.state("c1")["pid"]
    assert os.readlink(f"/proc/{pid}/root") == bundle.rootfs
    assert pybox("exec", "c1", "cat", "/marker").stdout == "this rootfs\n"
    # The container has no /proc: read its network namespace's sysctl from the host.
    forward = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "cat", "/proc/sys/net/ipv4/ip_forward"],
                             capture_output=True, text=True, timeout=10)
    assert forward.stdout == "1\n"
    pybox("delete", "--force", "c1")


@pytest.mark.parametrize("change, field", [
    (lambda c: c.pop("process"), "process"),
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[6].type"),
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_NOPE"), "process.capabilities.bounding[3]"),
    (lambda c: c["mounts"].append({"destination": "relative"}), "mounts[7].destination"),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]), "process.rlimits[0].type"),
    (lambda c: c["root"].update(path="missing"), "root.path"),
    (lambda c: c["linux"].update(intelRdt={"closID": "x"}), "linux.intelRdt"),
    (lambda c: c["process"].update(apparmorProfile="docker-default"), "process.apparmorProfile"),
    (lambda c: c["mounts"].append({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}), "mounts[7].type"),
])
def test_bad_config_is_one_line_naming_the_field(pybox, bundle, change, field):
    change(bundle.config)
    bundle.write()
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1
    assert field in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not os.path.exists(os.path.join(pybox.root, "c1"))


def test_malformed_json_is_one_line(pybox, bundle):
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write("{not json")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "not valid JSON" in result.stderr


def test_personality_linux32(pybox, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    assert run_output(pybox, bundle, "uname", "-m").strip() in ("i686", "armv8l", "armv7l")


def root_mount_tags(pybox, bundle, *flags):
    """The propagation fields of the container's / in its own /proc/self/mountinfo."""
    bundle.args("sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo")
    result = pybox("run", *flags, "-b", bundle.path, "c1", check=False)
    assert result.returncode == 0, result.stderr
    fields = result.stdout.split()
    return [f.split(":")[0] for f in fields[6:fields.index("-")]]


@pytest.mark.parametrize("propagation, tags", [
    ("shared", ["shared"]), ("rshared", ["shared"]), ("private", []), ("rprivate", []),
    ("unbindable", ["unbindable"]), ("runbindable", ["unbindable"])])
def test_rootfs_propagation(pybox, bundle, propagation, tags):
    bundle.config["linux"]["rootfsPropagation"] = propagation
    assert root_mount_tags(pybox, bundle) == tags


def test_no_pivot_keeps_the_root_mount(pybox, bundle):
    # --no-pivot moves the rootfs onto / and chroots: the container's root is the same mount.
    bundle.config["linux"]["rootfsPropagation"] = "shared"
    assert root_mount_tags(pybox, bundle, "--no-pivot") == ["shared"]


# Runs pybox in a session keyring of its own, named argv[1], that only its possessors may see.
IN_A_PRIVATE_KEYRING = """
import os, sys
from pybox import kernel as k
KEYCTL_SETPERM, KEY_SPEC_SESSION_KEYRING, POSSESSOR_ALL = 5, -3, 0x3f000000
k.keyctl_join_session_keyring(sys.argv[1])
k.syscall("keyctl", KEYCTL_SETPERM, KEY_SPEC_SESSION_KEYRING, POSSESSOR_ALL)
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.mark.parametrize("flags, inherited", [((), False), (("--no-new-keyring",), True)])
def test_session_keyring(pybox, bundle, tmp_path, flags, inherited):
    # The init joins a new session keyring unless --no-new-keyring: only then does the container
    # hold (and so see in /proc/keys) the keyring its caller runs in.
    name = f"pybox-test-{tmp_path.name}"
    bundle.config["linux"]["maskedPaths"].remove("/proc/keys")
    bundle.args("cat", "/proc/keys")
    with open(tmp_path / "out", "w") as out:
        subprocess.run([sys.executable, "-c", IN_A_PRIVATE_KEYRING, name, PYBOX_RUNC, "--root", pybox.root,
                        "run", *flags, "-b", bundle.path, "c1"], stdout=out, timeout=30, check=True)
    assert (name in (tmp_path / "out").read_text()) == inherited


def test_starts_under_a_512k_memory_limit(pybox, bundle):
    # The init joins its cgroup only after set-up: pybox's Python memory stays with the runtime.
    # (runc 1.1.5 fails here: "unable to set memory limit to 524288 (current usage: 2105344").
    bundle.config["linux"]["resources"] = {"memory": {"limit": 512 * 1024}}
    assert run_output(pybox, bundle, "echo", "small").strip() == "small"


@pytest.mark.parametrize("cgroupns", [True, False])
def test_the_container_sees_its_own_cgroup(pybox, bundle, cgroupns):
    # With a cgroup namespace the init mounts cgroupfs after joining; without one it binds the
    # host's directories of its cgroup, which a directly forked init learns of with "go".
    if not cgroupns:
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "cgroup"]
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 77}}
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v2: one tree
        files, mount = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max", "/sys/fs/cgroup"
    else:
        files, mount = "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids"
    out = run_output(pybox, bundle, "sh", "-c", f"cat {files}; grep ' {mount} ' /proc/self/mountinfo")
    limit, pids_max, mountinfo = out.splitlines()[:3]
    assert (limit, pids_max) == (str(64 * 1024 * 1024), "77")
    assert " ro," in mountinfo or " ro " in mountinfo


def test_systemd_cgroup_without_systemd_is_a_clear_error(pybox, bundle):
    bundle.args("true")
    result = pybox("--systemd-cgroup", "create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "systemd" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_exec_cpu_affinity_final(pybox, bundle):
    bundle.config["process"]["execCPUAffinity"] = {"initial": "0-1", "final": "1"}
    out = run_output(pybox, bundle, "grep", "Cpus_allowed_list", "/proc/self/status")
    assert out.split()[-1] == "1"


def test_bad_cpu_list_names_the_field(pybox, bundle):
    bundle.config["process"]["execCPUAffinity"] = {"final": "one"}
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "process.execCPUAffinity.final" in result.stderr


def test_net_devices_move_into_the_container(pybox, bundle):
    # pybox runs inside a network namespace made for this test, which plays the host.
    import subprocess
    from integration.conftest import PYBOX_RUNC
    bundle.config["linux"]["netDevices"] = {"pbveth0": {"name": "moved0"}}
    bundle.args("sh", "-c", "ls /sys/class/net | sort | tr '\\n' ' '")
    script = (f"ip link add pbveth0 type veth peer name pbveth1 && "
              f"{PYBOX_RUNC} --root {pybox.root} run -b {bundle.path} c1 && "
              f"ip -o link show | grep -c pbveth0 || true")
    result = subprocess.run(["unshare", "--net", "sh", "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert "moved0" in lines and "pbveth0" not in lines[:-1]
    assert lines[-1] == "0"  # it left the "host" namespace, and a veth dies with its container's


def test_missing_net_device_is_one_line(pybox, bundle):
    bundle.config["linux"]["netDevices"] = {"nosuchdev9": {}}
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "linux.netDevices.nosuchdev9: no such network interface" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not os.path.exists(os.path.join(pybox.root, "c1"))


def test_idmapped_bind_mount(pybox, bundle, tmp_path):
    shared = tmp_path / "owned-by-root"
    shared.mkdir()
    (shared / "f").write_text("x")
    bundle.config["mounts"].append({
        "destination": "/mapped", "type": "bind", "source": str(shared), "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]})
    out = run_output(pybox, bundle, "stat", "-c", "%u:%g", "/mapped/f")
    assert out.strip() == "1000:1000"
    assert os.stat(shared / "f").st_uid == 0  # the files themselves are unchanged


def test_loopback_is_up_in_a_new_network_namespace(pybox, bundle):
    out = run_output(pybox, bundle, "sh", "-c", "ip link show lo; echo pong > /tmp/x; "
                     "httpd -p 127.0.0.1:8080 -h /tmp && wget -q -O- http://127.0.0.1:8080/x")
    assert ",UP" in out.splitlines()[0] and out.strip().endswith("pong")


def test_tmpcopyup_fills_the_tmpfs_with_what_it_covers(pybox, bundle):
    # podman adds tmpcopyup to every --tmpfs.
    os.makedirs(os.path.join(bundle.rootfs, "seeded/sub"))
    with open(os.path.join(bundle.rootfs, "seeded/sub/f"), "w") as f:
        f.write("underneath\n")
    os.chown(os.path.join(bundle.rootfs, "seeded/sub/f"), 1000, 1000)
    bundle.config["mounts"].append({"destination": "/seeded", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["tmpcopyup", "mode=755"]})
    out = run_output(pybox, bundle, "sh", "-c",
                     "cat /seeded/sub/f; stat -c %u /seeded/sub/f; grep -c ' /seeded tmpfs' /proc/mounts")
    assert out.split() == ["underneath", "1000", "1"]


def test_memory_policy(pybox, bundle):
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0",
                                              "flags": ["MPOL_F_STATIC_NODES"]}
    out = run_output(pybox, bundle, "sh", "-c", "grep -m1 heap /proc/self/numa_maps || head -1 /proc/self/numa_maps")
    assert " bind=static:0 " in out or " bind:0 " in out or "bind" in out.split()[1], out


def test_bad_memory_policy_names_the_field(pybox, bundle):
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND"}
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "linux.memoryPolicy.nodes" in result.stderr


def host_message_queue():
    """A SysV message queue made on the host with util-linux's ipcmk; returns its id."""
    out = subprocess.run(["ipcmk", "-Q"], capture_output=True, text=True, timeout=10, check=True).stdout
    return out.rsplit(":", 1)[1].strip()  # "Message queue id: 3"


def message_queue_ids(text):
    return [line.split()[1] for line in text.splitlines()[1:]]


@pytest.mark.parametrize("ipcns", [True, False])
def test_ipc_namespace_hides_the_hosts_message_queues(pybox, bundle, ipcns):
    if not ipcns:
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "ipc"]
    qid = host_message_queue()
    try:
        out = run_output(pybox, bundle, "cat", "/proc/sysvipc/msg")
    finally:
        subprocess.run(["ipcrm", "-q", qid], timeout=10, check=True)
    if ipcns:
        assert message_queue_ids(out) == []
    else:
        assert qid in message_queue_ids(out)


def test_join_another_containers_network_namespace(pybox, bundle, tmp_path, busybox_rootfs):
    # The first serves on its loopback; only a container in the same network namespace reaches it.
    bundle.args("sh", "-c", "echo pong > /tmp/x; exec httpd -f -p 127.0.0.1:8080 -h /tmp")
    pybox("run", "-d", "-b", bundle.path, "first")
    first = pybox.state("first")["pid"]
    second = second_joining(tmp_path, busybox_rootfs, "network", first)
    second.args("sh", "-c", "for i in $(seq 50); do wget -q -O- http://127.0.0.1:8080/x && break; sleep 0.1; done;"
                "readlink /proc/self/ns/net")
    result = pybox("run", "-b", second.path, "second", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["pong", os.readlink(f"/proc/{first}/ns/net")]
    pybox("delete", "--force", "first")


def test_join_another_containers_ipc_namespace(pybox, bundle, tmp_path, busybox_rootfs):
    bundle.args("sleep", "1000")
    pybox("run", "-d", "-b", bundle.path, "first")
    first = pybox.state("first")["pid"]
    # busybox has no ipcmk: make the queue in the first container's ipc namespace from the host.
    made = subprocess.run(["nsenter", f"--ipc=/proc/{first}/ns/ipc", "ipcmk", "-Q"],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    qid = made.rsplit(":", 1)[1].strip()
    second = second_joining(tmp_path, busybox_rootfs, "ipc", first)
    second.args("cat", "/proc/sysvipc/msg")
    result = pybox("run", "-b", second.path, "second", check=False)
    assert result.returncode == 0, result.stderr
    assert message_queue_ids(result.stdout) == [qid]
    pybox("delete", "--force", "first")


def mountinfo_lines(text, *destinations):
    """{mount point: (per-mount options, fstype)} for the given mount points of a mountinfo."""
    found = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[4] in destinations:
            found[fields[4]] = (set(fields[5].split(",")), fields[fields.index("-") + 1])
    return found


def test_nosuid_nodev_noexec_on_tmpfs_and_bind_mounts(pybox, bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    options = ["nosuid", "nodev", "noexec"]
    bundle.config["mounts"] += [
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": options},
        {"destination": "/b", "type": "bind", "source": str(shared), "options": ["rbind"] + options}]
    out = run_output(pybox, bundle, "sh", "-c",
                     "cat /proc/self/mountinfo; for d in /t /b; do cp /bin/busybox $d/bb; "
                     "$d/bb true 2>/dev/null && echo $d ran || echo $d refused; done")
    mounts = mountinfo_lines(out, "/t", "/b")
    for dest in ("/t", "/b"):
        assert set(options) <= mounts[dest][0], (dest, mounts[dest])
    assert out.splitlines()[-2:] == ["/t refused", "/b refused"]


def test_mqueue_is_mounted_at_dev_mqueue(pybox, bundle):
    out = run_output(pybox, bundle, "cat", "/proc/self/mountinfo")
    options, fstype = mountinfo_lines(out, "/dev/mqueue")["/dev/mqueue"]
    assert fstype == "mqueue"
    assert {"nosuid", "nodev", "noexec"} <= options


def test_recursive_nosuid_nodev_noexec_reach_submounts(pybox, bundle, tmp_path):
    outer = tmp_path / "outer"
    (outer / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(outer / "sub")], timeout=10, check=True)
    try:
        bundle.config["mounts"] += [{"destination": "/outer", "type": "bind", "source": str(outer),
                                     "options": ["rbind", "rnosuid", "rnodev", "rnoexec"]}]
        out = run_output(pybox, bundle, "sh", "-c",
                         "cat /proc/self/mountinfo; cp /bin/busybox /outer/sub/bb;"
                         "/outer/sub/bb true 2>/dev/null && echo ran || echo refused")
    finally:
        subprocess.run(["umount", str(outer / "sub")], timeout=10, check=True)
    mounts = mountinfo_lines(out, "/outer", "/outer/sub")
    assert set(mounts) == {"/outer", "/outer/sub"}
    for dest, (options, _) in mounts.items():
        assert {"nosuid", "nodev", "noexec"} <= options, (dest, options)
    assert mounts["/outer/sub"][1] == "tmpfs"
    assert out.splitlines()[-1] == "refused"


def test_capability_sets_match_the_config(pybox, bundle):
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "permitted", "effective"):
        caps[kind] = ["CAP_CHOWN", "CAP_NET_RAW"]
    caps["inheritable"] = caps["ambient"] = ["CAP_NET_RAW"]
    out = run_output(pybox, bundle, "sh", "-c", "cat /proc/self/status; touch /tmp/f; chown 1000 /tmp/f && echo chowned")
    chown_and_net_raw = (1 << 0) | (1 << 13)
    for field in ("CapBnd", "CapPrm", "CapEff"):
        assert int(status_field(out, field), 16) == chown_and_net_raw, field
    assert int(status_field(out, "CapInh"), 16) == 1 << 13
    assert int(status_field(out, "CapAmb"), 16) == 1 << 13
    assert out.splitlines()[-1] == "chowned"  # CAP_CHOWN, which runc's defaults leave out


def test_default_devices_links_and_numbers(pybox, bundle):
    bundle.config["linux"].pop("devices", None)
    out = run_output(pybox, bundle, "sh", "-c",
                     "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T' /dev/$d; done;"
                     "for l in stdin stdout stderr fd ptmx; do echo /dev/$l $(readlink /dev/$l); done;"
                     "cat /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[:6] == [f"/dev/{name} character special file {number}" for name, number in [
        ("null", "1:3"), ("zero", "1:5"), ("full", "1:7"), ("random", "1:8"), ("urandom", "1:9"), ("tty", "5:0")]]
    assert lines[6:11] == ["/dev/stdin /proc/self/fd/0", "/dev/stdout /proc/self/fd/1",
                           "/dev/stderr /proc/self/fd/2", "/dev/fd /proc/self/fd", "/dev/ptmx pts/ptmx"]
    assert mountinfo_lines(out, "/dev/pts")["/dev/pts"][1] == "devpts"


@pytest.mark.parametrize("cgroupns", [True, False])
def test_cgroup_namespace_hides_the_host_cgroup_path(pybox, bundle, cgroupns):
    if not cgroupns:
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "cgroup"]
    lines = run_output(pybox, bundle, "cat", "/proc/self/cgroup").splitlines()
    assert lines
    paths = [line.split(":", 2)[2] for line in lines]
    if cgroupns:
        assert paths == ["/"] * len(lines), lines
    else:
        assert all(path.endswith("/" + bundle.config["linux"]["cgroupsPath"]) for path in paths), lines


@pytest.mark.parametrize("resources, field", [
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness"),
    ({"blockIO": {"weightDevice": [{"major": 8, "weight": 10}]}}, "linux.resources.blockIO.weightDevice[0]"),
    ({"unified": {"memory.high": "1"}} if not os.path.exists("/sys/fs/cgroup/cgroup.controllers")
     else {"memory": {"swappiness": 10}}, "linux.resources."),
])
def test_bad_resources_are_refused_with_the_config_before_any_fork(pybox, bundle, resources, field):
    """linux.resources is checked in the same pass as the rest of config.json (issue 13): the
    error names config.json's field, and no cgroup or state is ever made. Before, the parent
    found these only while writing the cgroup files, after the init had been forked."""
    bundle.config["linux"]["resources"] = resources
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pybox: config.json: {field}"), result.stderr
    assert os.listdir(pybox.root) == [] if os.path.isdir(pybox.root) else True
