"""Mount propagation, cgroup mounts, hooks, and the smaller refusals of issue 11, each compared
with runc where runc's behaviour is what callers rely on."""

import json
import os
import subprocess
import tempfile

import pytest

from integration.conftest import PYBOX_RUNC, own_cgroup_dirs
from integration.conftest import test_cgroup_path as new_cgroup_path

RUNC = "/usr/sbin/runc"
needs_runc = pytest.mark.skipif(not os.path.exists(RUNC), reason="runc is not installed")


def run_with(runtime, state_root, bundle, cid="c1", timeout=60):
    """`RUNTIME --root STATE run -b BUNDLE CID` with the bundle's config; stdout/stderr as text."""
    bundle.write()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = subprocess.run([runtime, "--root", str(state_root), "run", "-b", bundle.path, cid],
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess([runtime], code, out.read().decode(), err.read().decode())


def run_once(runtime, bundle, tmp_path):
    """Run the bundle's process to its end under a cgroup of this test, then delete --force."""
    bundle.config["linux"]["cgroupsPath"] = new_cgroup_path()
    try:
        return run_with(runtime, tmp_path / "state", bundle)
    finally:
        delete_with(runtime, tmp_path / "state")


def delete_with(runtime, state_root, cid="c1"):
    subprocess.run([runtime, "--root", str(state_root), "delete", "--force", cid],
                   capture_output=True, timeout=30)


def host_mounts_below(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path) + "/")]


def add_caps(config, *caps):
    for kind in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][kind] = sorted(set(config["process"]["capabilities"][kind]) | set(caps))


# --- C8: rshared volumes propagate back to the host ---------------------------------------------

@pytest.fixture
def shared_dir(tmp_path):
    """A host directory that is a shared mount of its own (the host's peer group)."""
    path = tmp_path / "shared"
    path.mkdir()
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True, timeout=10)
    subprocess.run(["mount", "--make-shared", str(path)], check=True, timeout=10)
    yield path
    for mountpoint in sorted(host_mounts_below(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], timeout=10)
    subprocess.run(["umount", "-l", str(path)], check=True, timeout=10)


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_rshared_volume_propagates_a_mount_made_inside_to_the_host(runtime, bundle, shared_dir, tmp_path):
    # Kubernetes' Bidirectional mount propagation: the CRI gives the volume rshared and makes the
    # rootfs rshared; a mount made in the container below the volume must appear on the host.
    bundle.config["mounts"].append({"destination": "/vol", "type": "bind", "source": str(shared_dir),
                                    "options": ["rbind", "rshared"]})
    bundle.config["linux"]["rootfsPropagation"] = "rshared"
    bundle.config["linux"]["cgroupsPath"] = new_cgroup_path()
    add_caps(bundle.config, "CAP_SYS_ADMIN")
    bundle.config["process"]["args"] = [
        "sh", "-c", "mkdir /vol/inner && mount -t tmpfs inner /vol/inner && grep ' /vol ' /proc/self/mountinfo"]
    try:
        result = run_with(runtime, tmp_path / "state", bundle)
        assert result.returncode == 0, result.stderr
        assert host_mounts_below(shared_dir) == [str(shared_dir / "inner")]
        # The volume is a peer of the host's mount, not a one-way copy (a "master:" of it).
        assert "master:" not in result.stdout, result.stdout
    finally:
        delete_with(runtime, tmp_path / "state")


# --- C6: hooks ----------------------------------------------------------------------------------

def marker_hook(path, word):
    return {"path": "/bin/sh", "args": ["sh", "-c", f"echo {word} >> {path}"]}


@pytest.mark.parametrize("kind", ["poststart", "poststop"])
def test_a_failing_poststart_or_poststop_hook_warns_and_the_next_still_runs(pybox, bundle, tmp_path, kind):
    # runtime-spec: "If any poststart (poststop) hook fails, the runtime MUST log a warning, but
    # the remaining hooks and lifecycle continue as if the hook had succeeded."
    ran = tmp_path / "ran"
    bundle.config["hooks"] = {kind: [{"path": "/bin/false"}, marker_hook(ran, "second")]}
    bundle.args("sleep", "100")
    pybox("create", "-b", bundle.path, "c1")
    started = pybox("start", "c1")
    if kind == "poststart":
        assert started.stderr.startswith("pybox: warning: start c1: hooks.poststart[0] /bin/false exited with status 1")
        assert pybox.state("c1")["status"] == "running"
    deleted = pybox("delete", "--force", "c1")
    if kind == "poststop":
        assert deleted.stderr.startswith("pybox: warning: delete c1: hooks.poststop[0] /bin/false exited with status 1")
    assert ran.read_text() == "second\n"


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_a_hook_without_env_gets_the_runtimes_environment(runtime, bundle, tmp_path):
    # runc and crun run a hook that has no "env" with their own environment (Go's exec.Cmd with a
    # nil Env); hooks such as nvidia-container-runtime-hook rely on PATH from it.
    out = tmp_path / "env"
    hooks = {kind: [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {kind} $HOOK_MARK >> {out}"]}]
             for kind in ("prestart", "poststop")}
    hooks["poststart"] = [{"path": "/bin/sh", "args": ["sh", "-c", f"echo poststart $HOOK_MARK. >> {out}"],
                           "env": []}]  # an explicit empty env stays empty
    # In the container (runc's init) the environment is process.env, not the runtime's.
    inside = os.path.join(bundle.rootfs, "env")
    hooks["createContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", f"echo $HOOK_MARK.$FROM_PROCESS > {inside}"]}]
    bundle.config["process"]["env"].append("FROM_PROCESS=yes")
    bundle.config["hooks"] = hooks
    bundle.config["linux"]["cgroupsPath"] = new_cgroup_path()
    bundle.config["process"]["args"] = ["true"]
    os.environ["HOOK_MARK"] = "from-the-runtime"
    try:
        result = run_with(runtime, tmp_path / "state", bundle)
    finally:
        del os.environ["HOOK_MARK"]
        delete_with(runtime, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == ["prestart from-the-runtime", "poststart .", "poststop from-the-runtime"]
    with open(inside) as f:
        assert f.read() == ".yes\n"


# --- C9: smaller gaps ---------------------------------------------------------------------------

def runtime_cmd(runtime, state_root, *args, timeout=60):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = subprocess.run([runtime, "--root", str(state_root), *args], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=err, timeout=timeout).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess([runtime, *args], code, out.read().decode(), err.read().decode())


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_delete_without_force_removes_a_created_container(runtime, bundle, tmp_path):
    # runc deletes a created, never-started container without --force (it kills the init);
    # containerd's shim relies on it to clean up after a failed start.
    bundle.config["linux"]["cgroupsPath"] = new_cgroup_path()
    bundle.args("sleep", "100")
    state = tmp_path / "state"
    try:
        assert runtime_cmd(runtime, state, "create", "-b", bundle.path, "c1").returncode == 0
        pid = json.loads(runtime_cmd(runtime, state, "state", "c1").stdout)["pid"]
        result = runtime_cmd(runtime, state, "delete", "c1")
        assert result.returncode == 0, result.stderr
        assert runtime_cmd(runtime, state, "state", "c1").returncode == 1
        assert not pid_alive(pid)
    finally:
        delete_with(runtime, state)


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_a_log_file_that_cannot_be_opened_is_an_error(runtime, tmp_path):
    # runc: `--log` in a missing directory fails the command with the open error on stderr;
    # ignoring it would leave containerd's shim with no reason when a later step fails.
    log = tmp_path / "missing" / "log.json"
    result = runtime_cmd(runtime, tmp_path / "state", "--log", str(log), "list")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and str(log) in result.stderr, result.stderr
    if runtime == PYBOX_RUNC:
        assert result.stderr == f"pybox: --log {log}: No such file or directory\n"


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_kernel_domainname_sysctl_is_set_in_the_uts_namespace(runtime, bundle, tmp_path):
    # kernel.domainname belongs to the uts namespace: runc's validator allows it there.
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "sysctl.example"}
    bundle.config["process"]["args"] = ["cat", "/proc/sys/kernel/domainname"]
    result = run_once(runtime, bundle, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sysctl.example\n"
    with open("/proc/sys/kernel/domainname") as f:
        assert f.read() != "sysctl.example\n"  # the host's is untouched


def test_kernel_domainname_sysctl_without_a_uts_namespace_is_refused(pybox, bundle):
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "uts"]
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "sysctl.example"}
    bundle.config.pop("hostname", None)
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1
    assert result.stderr == ("pybox: config.json: linux.sysctl.kernel.domainname: "
                             "needs its own uts namespace\n")


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_a_device_outside_dev_is_created(runtime, bundle, tmp_path):
    # runc creates linux.devices at any path in the rootfs (CDI specs may name such paths).
    bundle.config["linux"]["devices"] = [{"type": "c", "path": "/opt/devs/null2", "major": 1, "minor": 3,
                                          "fileMode": 0o640, "uid": 0, "gid": 0}]
    bundle.config["process"]["args"] = ["sh", "-c", "echo x > /opt/devs/null2 && stat -c '%F %t:%T %a' /opt/devs/null2"]
    result = run_once(runtime, bundle, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "character special file 1:3 640\n"


@pytest.fixture
def saved_mount_namespace(tmp_path):
    """A new mount namespace (a copy of the host's), kept alive by a bind of its nsfs file."""
    path = tmp_path / "mntns"
    path.touch()
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True, timeout=10)
    try:
        subprocess.run(["mount", "--make-private", str(path)], check=True, timeout=10)
        subprocess.run(["unshare", f"--mount={path}", "--propagation", "private", "true"], check=True, timeout=10)
        yield path
        subprocess.run(["umount", str(path)], check=True, timeout=10)  # the namespace
    finally:
        subprocess.run(["umount", str(path)], check=True, timeout=10)  # the private bind


@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_joining_a_mount_namespace_by_path_sets_the_rootfs_up_there(runtime, bundle, tmp_path, saved_mount_namespace):
    # runc joins the namespace and builds the container's root in it (mounts, pivot_root).
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "mount":
            ns["path"] = str(saved_mount_namespace)
    want = f"mnt:[{os.stat(saved_mount_namespace).st_ino}]"
    bundle.config["process"]["args"] = [
        "sh", "-c", "readlink /proc/self/ns/mnt; test -x /bin/busybox && "
                    "awk '$5 == \"/\"' /proc/self/mountinfo | wc -l"]
    result = run_once(runtime, bundle, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [want, "1"]


def cpuset_dir(relative):
    return next((d for d in own_cgroup_dirs(relative) if "/cpuset/" in d or "/cpuset," in d), None)


@pytest.mark.skipif(cpuset_dir("x") is None, reason="no v1 cpuset hierarchy")
@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_an_empty_v1_cpuset_parent_is_filled_from_its_parent(runtime, bundle, tmp_path):
    # A v1 cpuset cgroup that exists with cpus/mems unset (another tool made it) cannot take a
    # process (ENOSPC). runc fills it from its parent (cpusetEnsureParent) and creates fine.
    parent_path = new_cgroup_path()
    parent = cpuset_dir(parent_path)
    os.makedirs(parent)
    try:
        assert open(f"{parent}/cpuset.cpus").read().strip() == ""
        bundle.config["linux"]["cgroupsPath"] = parent_path + "/c1"
        bundle.args("cat", "/proc/self/status")
        result = run_with(runtime, tmp_path / "state", bundle)
        delete_with(runtime, tmp_path / "state")
        assert result.returncode == 0, result.stderr
        with open(f"{os.path.dirname(parent)}/cpuset.cpus") as f:
            want = f.read()
        assert open(f"{parent}/cpuset.cpus").read() == want
        assert "Cpus_allowed_list:\t" + want.strip() in result.stdout
    finally:  # runc leaves the parents it made in the other hierarchies
        for d in own_cgroup_dirs(parent_path):
            for path in (d + "/c1", d):
                if os.path.isdir(path):
                    os.rmdir(path)


# --- C5: the cgroup mount in a user namespace without a cgroup namespace --------------------------

@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/memory"), reason="no v1 memory hierarchy")
@pytest.mark.parametrize("runtime", [PYBOX_RUNC, pytest.param(RUNC, marks=needs_runc)], ids=["pybox", "runc"])
def test_user_namespace_without_cgroup_namespace_sees_its_v1_cgroups(runtime, bundle, tmp_path):
    # runc binds the container's own directory of each v1 hierarchy under /sys/fs/cgroup.
    bundle.in_user_namespace()
    linux = bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "cgroup"]  # as `runc spec`
    linux["resources"] = {"memory": {"limit": 64 << 20}}
    bundle.args("sh", "-c", "ls /sys/fs/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    result = run_once(runtime, bundle, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert {"memory", "pids", "cpu", "cpuacct", "devices", "freezer"} <= set(lines), result.stdout
    assert lines[-1] == str(64 << 20)


# --- C10: every failure names its step and config field --------------------------------------------

def create_error(pybox, bundle):
    """create's stderr when it fails; nothing may be left behind."""
    bundle.args("true")
    result = pybox("create", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1
    assert not os.path.exists(os.path.join(pybox.root, "c1"))
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def test_a_mount_the_kernel_refuses_names_the_mount(pybox, bundle):
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["size=nonsense"]})
    index = len(bundle.config["mounts"]) - 1
    assert create_error(pybox, bundle) == f"pybox: create c1: mount /data (mounts[{index}]): Invalid argument\n"


def test_a_refused_mount_inside_proc_names_the_mount(pybox, bundle):
    bundle.config["mounts"].append({"destination": "/proc/kcore", "type": "tmpfs", "source": "tmpfs"})
    index = len(bundle.config["mounts"]) - 1
    assert create_error(pybox, bundle).startswith(
        f"pybox: create c1: mount /proc/kcore (mounts[{index}]): /proc/kcore: mounts inside /proc are refused")


def test_a_sysctl_the_kernel_refuses_names_the_field(pybox, bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "not-a-number"}
    assert create_error(pybox, bundle) == (
        "pybox: create c1: write 'not-a-number' to /proc/sys/net/ipv4/ip_forward "
        "(linux.sysctl.net.ipv4.ip_forward): Invalid argument\n")


@pytest.mark.parametrize("kind", ["prestart", "createContainer"])
def test_a_hook_that_cannot_be_executed_names_the_hook(pybox, bundle, tmp_path, kind):
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o644)  # not executable
    bundle.config["hooks"] = {kind: [{"path": str(hook)}]}
    want = f"pybox: create c1: hooks.{kind}[0] {hook}: permission denied\n"
    assert create_error(pybox, bundle).lower() == want.lower()


def test_a_masked_path_that_cannot_be_masked_names_the_field(pybox, bundle):
    # A masked path whose open fails inside the root: a symlink loop.
    os.symlink("loop", os.path.join(bundle.rootfs, "loop"))
    bundle.config["linux"]["maskedPaths"] = ["/proc/kcore", "/loop"]
    assert create_error(pybox, bundle) == (
        "pybox: create c1: open /loop (linux.maskedPaths[1]): Too many levels of symbolic links\n")


def test_a_hostname_the_kernel_refuses_names_the_field(pybox, bundle):
    bundle.config["hostname"] = "h" * 70  # the kernel takes 64 bytes at most
    want = f"pybox: create c1: set the hostname {'h' * 70!r} (hostname): Invalid argument\n"
    assert create_error(pybox, bundle) == want
