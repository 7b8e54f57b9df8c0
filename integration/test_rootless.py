"""Rootless: `runc spec --rootless` bundles run by an ordinary user, against runc 1.1.5 rootless.

A user is made for the module (useradd, subordinate ranges in /etc/subuid and /etc/subgid) and
removed at the end, entries included, whatever happened. Everything runs as that user through
setpriv, with an XDG_RUNTIME_DIR the test owns to the user, as a login session would have it.
runc is the reference for what a rootless runtime does with the same bundle: the user namespace
with the caller's id (or, through newuidmap/newgidmap, its subordinate range), devices bound, no
cgroup when none is delegated, state under $XDG_RUNTIME_DIR/<runtime>.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from integration.busybox import build_rootfs
from integration.conftest import PYBOX_RUNC
from integration.rootless_user import user  # noqa: F401 (fixture)
from pybox.cgroups import hierarchy

RUNC = shutil.which("runc") or "/usr/sbin/runc"

pytestmark = pytest.mark.skipif(not (shutil.which("setpriv") and shutil.which("newuidmap")),
                                reason="needs setpriv and Debian's uidmap (scripts/install.sh --test)")


@pytest.fixture
def bundle(user):
    """`runc spec --rootless` made by the user, over a busybox rootfs the user owns."""
    path = tempfile.mkdtemp(prefix="bundle-", dir=user.home)
    os.chown(path, user.uid, user.gid)
    rootfs = os.path.join(path, "rootfs")
    build_rootfs(rootfs)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", rootfs], check=True, timeout=60)
    user.run(RUNC, "spec", "--rootless", cwd=path, check=True)
    return path


def edit(bundle, change):
    name = os.path.join(bundle, "config.json")
    with open(name) as f:
        config = json.load(f)
    change(config)
    config["process"]["terminal"] = False
    with open(name, "w") as f:
        json.dump(config, f)


def args(*argv):
    def change(config):
        config["process"]["args"] = list(argv)
    return change


RUNTIMES = {"pybox": PYBOX_RUNC, "runc": RUNC}


def _wait_stopped(user, binary, cid, deadline=10):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        state = json.loads(user.run(binary, "state", cid, check=True).stdout)
        if state["status"] == "stopped":
            return state
        time.sleep(0.05)
    raise AssertionError(f"{cid} still {state['status']} {deadline} s after SIGKILL")


@pytest.mark.parametrize("runtime", ["runc", "pybox"])
def test_rootless_lifecycle_like_runc(user, bundle, runtime):
    """create/start/state/kill/delete by an ordinary user, with no --root: the state lives under
    $XDG_RUNTIME_DIR/<runtime> (runc's default for a non-root caller), and nothing is left."""
    binary = RUNTIMES[runtime]
    edit(bundle, args("sleep", "60"))
    cid = f"rl-life-{runtime}"
    created = user.run(binary, "create", "--bundle", bundle, cid)
    assert created.returncode == 0, created.stderr
    try:
        assert os.path.isdir(os.path.join(user.runtime_dir, runtime, cid))
        state = json.loads(user.run(binary, "state", cid, check=True).stdout)
        assert state["status"] == "created" and state["pid"] > 0
        with open(f"/proc/{state['pid']}/uid_map") as f:  # the caller's own id, as root inside
            assert f.read().split() == ["0", str(user.uid), "1"]
        with open(f"/proc/{state['pid']}/status") as f:
            assert f"Uid:\t{user.uid}\t{user.uid}" in f.read()  # no privilege on the host
        user.run(binary, "start", cid, check=True)
        assert json.loads(user.run(binary, "state", cid, check=True).stdout)["status"] == "running"
        execd = user.run(binary, "exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map", check=True)
        assert execd.stdout.split() == ["0", "0", str(user.uid), "1"]
        listed = user.run(binary, "list", "--format", "json", check=True).stdout
        assert cid in [c["id"] for c in json.loads(listed or "[]") or []]
        user.run(binary, "kill", cid, "KILL", check=True)
        _wait_stopped(user, binary, cid)
        user.run(binary, "delete", cid, check=True)
    finally:
        user.run(binary, "delete", "--force", cid)
    assert not os.path.exists(os.path.join(user.runtime_dir, runtime, cid))
    assert user.run(binary, "state", cid).returncode != 0


def _run_output(user, binary, bundle, cid):
    done = user.run(binary, "run", "--bundle", bundle, cid, timeout=60)
    user.run(binary, "delete", "--force", cid)
    return done


@pytest.mark.parametrize("runtime", ["runc", "pybox"])
def test_rootless_mounts_and_devices_like_runc(user, bundle, runtime):
    """What the container sees: root mapped to the caller, proc, a read-only sysfs (bound from the
    host's: a new sysfs needs a network namespace of its own), devpts with runc's options, mqueue,
    and the default devices bound from the host (mknod is not allowed in a user namespace)."""
    edit(bundle, args("sh", "-c", "cat /proc/self/uid_map /proc/mounts; echo hi > /dev/null; "
                      "head -c 4 /dev/zero | wc -c; stat -c '%t:%T' /dev/null"))
    done = _run_output(user, RUNTIMES[runtime], bundle, f"rl-mounts-{runtime}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["0", str(user.uid), "1"]
    mounts = {line.split()[1]: line.split() for line in lines[1:] if len(line.split()) == 6}
    assert mounts["/proc"][2] == "proc"
    assert mounts["/sys"][2] == "sysfs" and "ro" in mounts["/sys"][3].split(",")
    assert mounts["/dev/pts"][2] == "devpts"
    assert {"nosuid", "noexec", "mode=620", "ptmxmode=666"} <= set(mounts["/dev/pts"][3].split(","))
    assert mounts["/dev/mqueue"][2] == "mqueue"
    assert mounts["/dev/null"][2] != "tmpfs"  # a bind of the host's node
    assert lines[-2:] == ["4", "1:3"]


@pytest.mark.parametrize("runtime", ["runc", "pybox"])
def test_rootless_subordinate_range_owns_files_like_runc(user, bundle, runtime):
    """With the user's subordinate range mapped (through newuidmap/newgidmap, as podman maps it):
    a file the container's root makes belongs to the user on the host, one chowned to 1000:1000
    in the container belongs to the range's start + 999."""
    subuid, subgid = user.subuid, user.subgid

    def change(config):
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1},
                                          {"containerID": 1, "hostID": subuid[0], "size": subuid[1]}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1},
                                          {"containerID": 1, "hostID": subgid[0], "size": subgid[1]}]
        config["process"]["args"] = ["sh", "-c", f"touch /tmp/{runtime}-root /tmp/{runtime}-app && "
                                     f"chown 1000:1000 /tmp/{runtime}-app && cat /proc/self/uid_map"]
        config["root"]["readonly"] = False
        for kind in ("bounding", "effective", "permitted"):  # the spec's three lack chown's
            config["process"]["capabilities"][kind].append("CAP_CHOWN")
    edit(bundle, change)
    done = _run_output(user, RUNTIMES[runtime], bundle, f"rl-range-{runtime}")
    assert done.returncode == 0, done.stderr
    assert [line.split() for line in done.stdout.splitlines()] == [
        ["0", str(user.uid), "1"], ["1", str(subuid[0]), str(subuid[1])]]
    owned = os.stat(os.path.join(bundle, "rootfs", "tmp", f"{runtime}-root"))
    assert (owned.st_uid, owned.st_gid) == (user.uid, user.gid)
    app = os.stat(os.path.join(bundle, "rootfs", "tmp", f"{runtime}-app"))
    assert (app.st_uid, app.st_gid) == (subuid[0] + 999, subgid[0] + 999)


def _refused_like_runc(user, bundle, change, cid, *words):
    """runc refuses the bundle too; pybox in one line naming words, exit 1, no state left."""
    def whole(config):
        change(config)
        config["process"]["args"] = ["true"]
    edit(bundle, whole)
    assert _run_output(user, RUNC, bundle, f"{cid}-runc").returncode != 0
    done = _run_output(user, PYBOX_RUNC, bundle, cid)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert all(word in done.stderr for word in words), done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(os.path.join(user.runtime_dir, "pybox")) == []


def test_rootless_range_not_granted_is_one_line(user, bundle):
    """A range /etc/subuid does not grant: newuidmap refuses, and pybox says so."""
    def change(config):
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1},
                                          {"containerID": 1, "hostID": 10, "size": 5}]
    _refused_like_runc(user, bundle, change, "rl-bad-range", "linux.uidMappings", "newuidmap")


def test_rootless_resources_without_delegated_cgroup_is_one_line(user, bundle):
    """runc's rule: no delegated cgroup is no error unless resources are asked for. A memory limit
    the user cannot apply is refused, naming linux.resources, and leaves no process."""
    def change(config):
        config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    _refused_like_runc(user, bundle, change, "rl-mem", "linux.resources", "cgroup")


def test_rootless_state_root_is_the_users(user, bundle):
    """Without XDG_RUNTIME_DIR the state goes to /run/user/<uid>/pybox (podman's fallback), never
    to root's /run/pybox; where that does not exist either, one line names it."""
    edit(bundle, args("true"))
    env = {k: v for k, v in user.env().items() if k != "XDG_RUNTIME_DIR"}
    done = subprocess.run(["setpriv", "--reuid", str(user.uid), "--regid", str(user.gid), "--init-groups",
                           PYBOX_RUNC, "run", "--bundle", bundle, "rl-root"], env=env, cwd=user.home,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert not os.path.exists("/run/pybox/rl-root")
    if os.path.isdir(f"/run/user/{user.uid}"):
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 1
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert f"/run/user/{user.uid}/pybox" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def delegated(user):
    """A cgroup v2 subtree delegated to the user as systemd delegates user@.service: the directory
    and its cgroup.procs, cgroup.subtree_control and cgroup.threads chowned, memory and pids
    available; with a "session" leaf (chowned too) that the user's commands start in."""
    with open("/proc/self/cgroup") as f:
        own = next(line.strip().split("::", 1)[1] for line in f if line.startswith("0::"))
    parent = os.path.normpath(f"/sys/fs/cgroup/{own}")
    try:
        with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
            f.write("+memory +pids")
    except OSError as err:
        pytest.skip(f"cannot delegate memory and pids below {parent}: {err.strerror}")
    top = os.path.join(parent, f"pbrl-delegated-{os.getpid()}")
    session = os.path.join(top, "session")
    os.mkdir(top)
    try:
        os.mkdir(session)
        for directory in (top, session):
            for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                os.chown(os.path.join(directory, name), user.uid, user.gid)
        yield top
    finally:
        for directory in sorted((d for d, _, _ in os.walk(top)), key=len, reverse=True):
            deadline = time.monotonic() + 5
            while os.path.isdir(directory):
                try:
                    os.rmdir(directory)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


@pytest.mark.skipif(hierarchy.discover()[0] != "unified",
                    reason="cgroup v2 only (the VM tier runs it: scripts/cgroup2-vm)")
@pytest.mark.parametrize("runtime", ["runc", "pybox"])
def test_rootless_delegated_cgroup_v2_applies_resources_like_runc(user, bundle, delegated, runtime):
    """In a subtree delegated to the user, a rootless container gets its cgroup and its limits
    there, as runc's gives it; delete removes the cgroup."""
    binary, cid = RUNTIMES[runtime], f"rl-cg-{runtime}"
    container_cgroup = os.path.join(delegated, cid)

    def change(config):
        config["linux"]["cgroupsPath"] = container_cgroup.removeprefix("/sys/fs/cgroup")
        config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
        config["process"]["args"] = ["sleep", "60"]
    edit(bundle, change)
    session = os.path.join(delegated, "session")
    created = user.run(binary, "create", "--bundle", bundle, cid, cgroup=session)
    try:
        assert created.returncode == 0, created.stderr
        pid = json.loads(user.run(binary, "state", cid, check=True).stdout)["pid"]
        with open(os.path.join(container_cgroup, "memory.max")) as f:
            assert f.read().strip() == str(64 << 20)
        with open(os.path.join(container_cgroup, "pids.max")) as f:
            assert f.read().strip() == "50"
        with open(os.path.join(container_cgroup, "cgroup.procs")) as f:
            assert str(pid) in f.read().split()
    finally:
        user.run(binary, "delete", "--force", cid, cgroup=session)
    assert not os.path.exists(container_cgroup)


def _median_run(user, binary, bundle, cid, count):
    times = []
    for i in range(count):
        start = time.monotonic()
        done = user.run(binary, "run", "--bundle", bundle, f"{cid}-{i}")
        times.append(time.monotonic() - start)
        assert done.returncode == 0, done.stderr
    times.sort()
    return times[len(times) // 2]


def test_rootless_startup_against_runc(user, bundle):
    """`run` of `true` on the same rootless bundle, median of 5, reported (-s shows it)."""
    edit(bundle, args("true"))
    ours = _median_run(user, PYBOX_RUNC, bundle, "rl-time-pybox", 5)
    theirs = _median_run(user, RUNC, bundle, "rl-time-runc", 5)
    print(f"\nrootless run true, median of 5: pybox-runc {ours * 1000:.0f} ms, runc {theirs * 1000:.0f} ms")
    assert ours < 10 * theirs + 1.0


@pytest.fixture
def plain_bundle(user):  # noqa: F811
    """`runc spec` (not --rootless) made by the user, for root of a user namespace: no user
    namespace of its own, and devpts without gid=5 (not mapped when only the user's id is)."""
    path = tempfile.mkdtemp(prefix="plain-", dir=user.home)
    os.chown(path, user.uid, user.gid)
    rootfs = os.path.join(path, "rootfs")
    build_rootfs(rootfs)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", rootfs], check=True, timeout=60)
    user.run(RUNC, "spec", cwd=path, check=True)

    def change(config):
        for mount in config["mounts"]:
            mount["options"] = [o for o in mount.get("options") or [] if o != "gid=5"]
    edit(path, change)
    return path


def _in_user_namespace(user, script):
    """script run by sh as root of a new user namespace of the user's (unshare --map-root-user),
    as the engine runs pybox-runc under its pause process."""
    return user.run("unshare", "--user", "--map-root-user", "sh", "-c", script, timeout=90)


@pytest.mark.parametrize("runtime", ["runc", "pybox"])
def test_root_of_a_user_namespace_runs_without_cgroup_like_runc(user, plain_bundle, runtime):
    """euid 0, but in a user namespace: runc's rule takes the rootless cgroup path there (no
    delegated cgroup, no resources asked: none made) and create, exec, delete work; pybox-runc
    failed on its cgroup and on coming back to its own pid namespace."""
    binary, root = RUNTIMES[runtime], os.path.join(user.runtime_dir, f"in-userns-{runtime}")
    edit(plain_bundle, args("sleep", "60"))
    run = f"{binary} --root {root}"
    done = _in_user_namespace(user, f'{run} create -b {plain_bundle} c || exit 9; '
                              f'{run} exec c sh -c "id -u; cat /proc/self/uid_map"; s=$?; '
                              f'{run} delete -f c; exit $s')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0", str(user.uid), "1"]
    assert os.listdir(root) == []


@pytest.mark.parametrize("runtime", ["runc", "pybox"])
def test_root_of_a_user_namespace_refuses_resources_like_runc(user, plain_bundle, runtime):
    """The same with a memory limit: no cgroup to apply it in, refused (pybox: one line naming
    linux.resources), nothing left."""
    def change(config):
        config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
        config["process"]["args"] = ["true"]
    edit(plain_bundle, change)
    binary, root = RUNTIMES[runtime], os.path.join(user.runtime_dir, f"in-userns-mem-{runtime}")
    done = _in_user_namespace(user, f"{binary} --root {root} run -b {plain_bundle} c; s=$?; "
                              f"{binary} --root {root} delete -f c 2>/dev/null; exit $s")
    assert done.returncode != 0
    if runtime == "pybox":
        assert done.returncode == 1
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "linux.resources" in done.stderr and "Traceback" not in done.stderr
    assert os.listdir(root) == []
