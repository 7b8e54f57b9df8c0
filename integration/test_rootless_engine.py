"""The engine (`pybox`) run by an ordinary user, beside podman 4.3 rootless as the same user.

As podman's rootless mode: the user's store under ~/.local/share/pybox, one pause process per
user holding a user namespace (the user's id as 0, its /etc/subuid and /etc/subgid ranges from
1) and a mount namespace that every command joins; layers unpacked with their owners shifted
into the subordinate range; overlayfs mounted in that namespace (never on the host); pasta for
user-mode networking. The image comes from the suite's registry, pushed there by root.
Everything runs as the test user (integration/rootless_user.py) with a HOME and an
XDG_RUNTIME_DIR of its own; the module ends with `system migrate` and checks nothing is left.

podman here: Debian's podman 4.3 with `--runtime runc` (its default crun refuses this host's
hybrid cgroups); its rootless network is slirp4netns (with rootlessport for -p), compared with
pybox's pasta where both agree: a published port, and the host's loopback reached only when asked.
"""

import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
import urllib.request

import pytest

from integration.busybox import build_rootfs
from integration.conftest import PYBOX
from integration.registry import free_port, registry  # noqa: F401 (fixture)
from integration.rootless_user import user  # noqa: F401 (fixture)

PODMAN = shutil.which("podman")

pytestmark = pytest.mark.skipif(not (shutil.which("setpriv") and shutil.which("newuidmap")),
                                reason="needs setpriv and Debian's uidmap (scripts/install.sh --test)")


@pytest.fixture(scope="module")
def image(registry, tmp_path_factory):  # noqa: F811
    """The tests' busybox rootfs (/home/app owned by 1000:1000), imported and pushed by root."""
    work = tmp_path_factory.mktemp("rootless-engine")
    rootfs = build_rootfs(str(work / "rootfs"))
    env = dict(os.environ, PYBOX_STORAGE=str(work / "store"))
    subprocess.run([PYBOX, "import", rootfs, "rootless/busybox"], env=env, check=True,
                   capture_output=True, timeout=120)
    ref = f"{registry.host}/rootless/busybox:1"
    subprocess.run([PYBOX, "push", "--tls-verify=false", "rootless/busybox", ref], env=env,
                   check=True, capture_output=True, timeout=120)
    return ref


class Engine:
    """`pybox` (and podman) as the test user."""

    def __init__(self, user):
        self.user = user
        self.store = os.path.join(user.home, ".local", "share", "pybox")

    def __call__(self, *args, timeout=90, check=True, env=None):
        return self.user.run(PYBOX, *args, timeout=timeout, check=check, env=env)

    def podman(self, *args, timeout=180, check=False):
        return self.user.run(PODMAN, "--runtime", "runc", *args, timeout=timeout, check=check)

    def pause_pid(self, tool="pybox"):
        path = {"pybox": "libpybox/pause.pid", "podman": "libpod/tmp/pause.pid"}[tool]
        try:
            with open(os.path.join(self.user.runtime_dir, path)) as f:
                return int(f.read().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def mounts_in_pause(self):
        """Mount points below the user's home in the pause process's mount namespace."""
        pid = self.pause_pid()
        with open(f"/proc/{pid}/mountinfo") as f:
            return [line.split()[4] for line in f if line.split()[4].startswith(self.user.home)]

    def finish(self):
        """Remove every container, stop both pause processes; kill them by pid if still there."""
        ids = self("ps", "-a", "-q", check=False).stdout.split()
        if ids:
            self("rm", "-f", *ids, check=False)
        self("system", "migrate", check=False)
        if PODMAN:
            self.podman("system", "migrate", timeout=60)
        for tool in ("pybox", "podman"):
            pid = self.pause_pid(tool)
            if pid is not None and _alive(pid) and _uid_of(pid) == self.user.uid:
                os.kill(pid, 9)


@pytest.fixture(scope="module")
def engine(user, image):  # noqa: F811
    e = Engine(user)
    e("pull", image, timeout=180)
    yield e
    e.finish()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def _one_line_refusal(done, *words):
    assert done.returncode == 125, (done.returncode, done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert all(word in done.stderr for word in words), done.stderr


def test_store_is_the_users_and_layers_are_shifted(engine, user, image):  # noqa: F811
    """pull writes to ~/.local/share/pybox, owned by the user; a layer's file of 1000:1000 is
    the subordinate range's start + 999 on the host, a file of root's the user's own; the pause
    process (catatonit -P) maps the user to 0 and the ranges from 1, as podman's does."""
    assert image.rsplit(":", 1)[0] in engine("images").stdout
    assert os.stat(engine.store).st_uid == user.uid
    layers = [os.path.join(engine.store, "layers", name) for name in os.listdir(os.path.join(engine.store, "layers"))]
    assert layers
    app = os.stat(os.path.join(layers[0], "home", "app"))
    assert (app.st_uid, app.st_gid) == (user.subuid[0] + 999, user.subgid[0] + 999)
    busybox = os.stat(os.path.join(layers[0], "bin", "busybox"))
    assert (busybox.st_uid, busybox.st_gid) == (user.uid, user.gid)
    pid = engine.pause_pid()
    assert pid is not None and _uid_of(pid) == user.uid
    with open(f"/proc/{pid}/cmdline") as f:
        assert f.read().split("\0")[:2] == ["/usr/bin/catatonit", "-P"]
    for name, own, sub in (("uid_map", user.uid, user.subuid), ("gid_map", user.gid, user.subgid)):
        with open(f"/proc/{pid}/{name}") as f:
            assert [line.split() for line in f] == [["0", str(own), "1"], ["1", str(sub[0]), str(sub[1])]]
    assert engine.mounts_in_pause() == []  # nothing mounted while no container exists


def test_info_says_rootless_with_podmans_id_mappings(engine, user):  # noqa: F811
    """info: host.security.rootless and host.idMappings, as podman info shows them."""
    ours = json.loads(engine("info", "--format", "json").stdout)["host"]
    assert ours["security"]["rootless"] is True
    assert ours["idMappings"]["uidmap"] == [{"container_id": 0, "host_id": user.uid, "size": 1},
                                            {"container_id": 1, "host_id": user.subuid[0], "size": user.subuid[1]}]
    if not PODMAN:
        pytest.skip("podman is not installed")
    theirs = json.loads(engine.podman("info", "--format", "json", check=True).stdout)["host"]
    assert theirs["security"]["rootless"] is True
    assert ours["idMappings"] == theirs["idMappings"]


def test_xdg_data_home_moves_the_store(engine, user):  # noqa: F811
    """$XDG_DATA_HOME, when set, holds the store instead of ~/.local/share (podman's rule)."""
    data = user.mkdir(os.path.join(user.home, "xdg-data"))
    done = engine("images", "-q", env={"XDG_DATA_HOME": data})
    assert done.stdout.strip() == ""  # a new, empty store
    assert os.path.isdir(os.path.join(data, "pybox", "layers"))


def _push_variant(registry, tmp_path, name, change):  # noqa: F811
    """The tests' busybox rootfs changed by change(rootfs), imported and pushed by root."""
    rootfs = build_rootfs(str(tmp_path / "rootfs"))
    change(rootfs)
    env = dict(os.environ, PYBOX_STORAGE=str(tmp_path / "store"))
    subprocess.run([PYBOX, "import", rootfs, name], env=env, check=True, capture_output=True, timeout=120)
    ref = f"{registry.host}/{name}:1"
    subprocess.run([PYBOX, "push", "--tls-verify=false", name, ref], env=env, check=True,
                   capture_output=True, timeout=120)
    return ref


def test_owner_beyond_the_range_is_one_line(engine, user, registry, tmp_path):  # noqa: F811
    """A layer file owned by an id the user's namespace does not map (past the 65536 of
    /etc/subuid): pull fails in one line naming the entry and the owner, and keeps no layer."""
    def change(rootfs):
        with open(os.path.join(rootfs, "far"), "w") as f:
            f.write("x")
        os.chown(os.path.join(rootfs, "far"), 70000, 70000)
    ref = _push_variant(registry, tmp_path, "rootless/far", change)
    before = sorted(os.listdir(os.path.join(engine.store, "layers")))
    done = engine("pull", ref, check=False, timeout=180)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "far'" in done.stderr and "70000:70000" in done.stderr and "not mapped" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(os.path.join(engine.store, "layers"))) == before
    assert os.listdir(os.path.join(engine.store, "tmp")) == []


def test_device_nodes_are_skipped(engine, user, registry, tmp_path):  # noqa: F811
    """A layer's character device (mknod is the host root's): left out, as containers/storage
    leaves it out in a user namespace; the rest of the image runs."""
    def change(rootfs):
        os.mknod(os.path.join(rootfs, "node"), 0o600 | 0o020000, os.makedev(1, 5))
    ref = _push_variant(registry, tmp_path, "rootless/node", change)
    engine("pull", ref, timeout=180)
    done = engine("run", "--rm", "--network", "none", ref, "sh", "-c", "ls /node || echo none")
    assert done.stdout.strip() == "none"
    engine("rmi", ref)


def _inside(engine, image, runner):
    script = ("id -u; cat /proc/self/uid_map /proc/self/gid_map; ls /sys/class/net; "
              "stat -c %u:%g /home/app /bin/busybox; touch /tmp/t && chown 1000:1000 /tmp/t && echo chowned")
    return runner("run", "--rm", "--network", "none", image, "sh", "-c", script)


def test_run_none_sees_what_podman_shows(engine, user, image):  # noqa: F811
    """`run --rm --network none`: root in the container, the same maps and owners as podman
    rootless shows for the same image (its user namespace is made the same way), only lo."""
    ours = _inside(engine, image, engine)
    lines = [line.split() for line in ours.stdout.splitlines()]
    assert lines[0] == ["0"]
    assert lines[1:5] == [["0", str(user.uid), "1"], ["1", str(user.subuid[0]), str(user.subuid[1])],
                          ["0", str(user.gid), "1"], ["1", str(user.subgid[0]), str(user.subgid[1])]]
    assert lines[5:] == [["lo"], ["1000:1000"], ["0:0"], ["chowned"]]
    if not PODMAN:
        pytest.skip("podman is not installed")
    assert engine.podman("pull", "--tls-verify=false", image).returncode == 0
    theirs = _inside(engine, image, engine.podman)
    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout == ours.stdout


def test_detached_exec_ps_rm(engine, user, image):  # noqa: F811
    """run -d, ps, exec, rm -f: a file the container chowns to 1000:1000 belongs to the
    subordinate range's start + 999 on the host; rm leaves no record, mount nor process."""
    cid = engine("run", "-d", "--network", "none", "--name", "rl-web", image, "sleep", "60").stdout.strip()
    try:
        ps = engine("ps", "--format", "{{.Names}} {{.Status}}").stdout
        assert "rl-web Up" in ps
        execd = engine("exec", "rl-web", "sh", "-c", "id -u; echo x > /tmp/made; chown 1000:1000 /tmp/made")
        assert execd.stdout.split() == ["0"]
        made = os.stat(os.path.join(engine.store, "rw", cid, "upper", "tmp", "made"))
        assert (made.st_uid, made.st_gid) == (user.subuid[0] + 999, user.subgid[0] + 999)
        assert os.path.join(engine.store, "rw", cid, "rootfs") in engine.mounts_in_pause()
        pid = int(engine("inspect", "-f", "{{.State.Pid}}", "rl-web").stdout)
        assert _uid_of(pid) == user.uid
    finally:
        engine("rm", "-f", "rl-web")
    assert engine("ps", "-a", "-q").stdout.strip() == ""
    assert not _alive(pid)
    assert engine.mounts_in_pause() == []
    assert not os.path.exists(os.path.join(engine.store, "rw", cid))


def _pasta_of(engine, cid):
    with open(os.path.join(engine.store, "containers", cid, "pasta.pid")) as f:
        return int(f.read())


def _get(url, deadline=10):
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read().decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def test_published_port_reached_from_the_hosts_loopback(engine, user, image):  # noqa: F811
    """-p HOST:80 (HOST above 1024) through pasta, the default network: the container's httpd
    answers on the host's 127.0.0.1:HOST; rm stops pasta and unbinds its namespace file."""
    port = free_port()
    cid = engine("run", "-d", "-p", f"{port}:80", "--name", "rl-httpd", image,
                 "httpd", "-f", "-p", "80", "-h", "/etc").stdout.strip()
    try:
        assert _get(f"http://127.0.0.1:{port}/group").startswith("root:x:0:")
        pasta = _pasta_of(engine, cid)
        assert _alive(pasta) and _uid_of(pasta) == user.uid
        assert f"0.0.0.0:{port}->80/tcp" in engine("ps", "--format", "{{.Ports}}").stdout
    finally:
        engine("rm", "-f", "rl-httpd")
    deadline = time.monotonic() + 5
    while _alive(pasta) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pasta)
    assert engine.mounts_in_pause() == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def _gateway():
    """The host's IPv4 default gateway (pasta copies the host's routes), or None."""
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000" and int(fields[3], 16) & 2:
                return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    return None


@pytest.fixture
def host_server(tmp_path):
    """An HTTP server on the host's 127.0.0.1 (a thread of this test), serving one file."""
    (tmp_path / "hello.txt").write_text("hello from the host\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=str(tmp_path), **kw)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_outbound_through_pasta(engine, image, host_server):  # noqa: F811
    """Outbound traffic through pasta: with podman's --map-gw the host's loopback answers at the
    gateway address, where a server of the test's waits; without it (the default) it does not."""
    gateway = _gateway()
    if gateway is None:
        pytest.skip("the host has no IPv4 default route for pasta to copy")
    url = f"http://{gateway}:{host_server}/hello.txt"
    done = engine("run", "--rm", "--network", "pasta:--map-gw", image, "sh", "-c",
                  f"ip route | grep -c default; wget -q -O - {url}")
    assert done.stdout.splitlines() == ["1", "hello from the host"]
    ps = engine("ps", "-a", "-q").stdout.strip()
    assert ps == ""


def _comms_of(user, names):  # noqa: F811
    """pid -> name of the user's live processes named one of names."""
    found = {}
    for pid in _processes_of(user):
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if name in names:
            found[pid] = name
    return found


def _gone(pids, deadline=5):
    end = time.monotonic() + deadline
    while any(_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


USER_NETWORK = ("pasta", "pasta.avx2", "passt", "passt.avx2", "slirp4netns", "rootlessport",
                "rootlessport-ch", "exe")


def _runner(engine, image, tool):
    """pybox, or podman with its rootless network (slirp4netns) and the image pulled."""
    if tool == "pybox":
        return engine
    if not (PODMAN and shutil.which("slirp4netns")):
        pytest.skip("podman or slirp4netns is not installed")
    assert engine.podman("pull", "--tls-verify=false", image).returncode == 0
    return engine.podman


@pytest.mark.parametrize("tool", ["pybox", "podman"])
def test_published_port_beside_podman(engine, user, image, tool):  # noqa: F811
    """-p HOST:80 (HOST above 1024), the user-mode network's default: pybox through pasta,
    podman 4.3 through slirp4netns (rootlessport binds the host's port). Both: the container's
    httpd answers on the host's 127.0.0.1:HOST, and rm leaves no network process nor bound port."""
    runner = _runner(engine, image, tool)
    before = set(_comms_of(user, USER_NETWORK))
    port = free_port()
    done = runner("run", "-d", "-p", f"{port}:80", "--name", f"rl-port-{tool}", image,
                  "httpd", "-f", "-p", "80", "-h", "/etc")
    assert done.returncode == 0, done.stderr
    try:
        assert _get(f"http://127.0.0.1:{port}/group").startswith("root:x:0:")
        helpers = set(_comms_of(user, USER_NETWORK)) - before
        assert helpers  # pasta, or slirp4netns and rootlessport
    finally:
        assert runner("rm", "-f", f"rl-port-{tool}").returncode == 0
    assert _gone(helpers) == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


_GATEWAY_GET = "gw=$(ip route | awk '/^default/ {print $3}'); timeout 10 wget -q -O - http://$gw:%d/hello.txt || exit 1"  # not exec'd: pid 1 ignores the SIGTERM of timeout


@pytest.mark.parametrize("tool, asked", [("pybox", "pasta:--map-gw"),
                                         ("podman", "slirp4netns:allow_host_loopback=true")])
def test_hosts_loopback_only_when_asked_beside_podman(engine, user, image, host_server, tool, asked):  # noqa: F811
    """Outbound traffic to a server on the host's 127.0.0.1, at the container's gateway address
    (pasta: the host's gateway; slirp4netns: 10.0.2.2): refused by default by both, reached when
    asked for (podman's --network pasta:--map-gw, slirp4netns:allow_host_loopback=true); no
    network process is left after --rm."""
    if tool == "pybox" and _gateway() is None:
        pytest.skip("the host has no IPv4 default route for pasta to copy")
    runner = _runner(engine, image, tool)
    before = set(_comms_of(user, USER_NETWORK))
    script = _GATEWAY_GET % host_server
    # pasta: the gateway is the host's own, which does not answer (wget is timed out);
    # slirp4netns: 10.0.2.2 is "Network is unreachable".
    default = runner("run", "--rm", image, "sh", "-c", script, timeout=120, check=False)
    assert default.returncode != 0 and "hello" not in default.stdout, default.stderr
    reached = runner("run", "--rm", "--network", asked, image, "sh", "-c", script, timeout=120, check=False)
    assert reached.returncode == 0, reached.stderr
    assert reached.stdout == "hello from the host\n"
    assert _gone(set(_comms_of(user, USER_NETWORK)) - before) == []


def test_unknown_overlay_choice_is_one_line(engine, image):  # noqa: F811
    """PYBOX_ROOTLESS_OVERLAY other than fuse: one line naming it, exit 125, nothing left."""
    done = engine("run", "--rm", "--network", "none", image, "true", check=False,
                  env={"PYBOX_ROOTLESS_OVERLAY": "fusee"})
    _one_line_refusal(done, "PYBOX_ROOTLESS_OVERLAY", "fusee")
    assert engine("ps", "-a", "-q").stdout.strip() == ""
    assert os.listdir(os.path.join(engine.store, "rw")) == []
    assert engine.mounts_in_pause() == []


def _mount_types(pid, point):
    with open(f"/proc/{pid}/mountinfo") as f:
        return [line.split(" - ")[1].split()[0] for line in f if line.split()[4] == point]


def test_fuse_overlayfs_where_the_kernel_refuses_overlayfs(engine, user, image):  # noqa: F811
    """The store on a FUSE filesystem (as a home on sshfs; here a fuse-overlayfs mounted by
    root): the kernel refuses it as overlayfs's upper directory (EINVAL, "not supported as
    upperdir"), so the rootfs is mounted by fuse-overlayfs, without being asked; the container
    runs, exec reads what it wrote, and rm leaves no mount and no fuse-overlayfs of the user."""
    binary = shutil.which("fuse-overlayfs")
    if not binary:
        pytest.skip("fuse-overlayfs is not installed")
    engine("system", "migrate")  # the next pause process's mount namespace copies the FUSE mount
    top = user.mkdir(os.path.join(user.home, "on-fuse"))
    lower, upper, work, data = (user.mkdir(os.path.join(top, d)) for d in ("lower", "upper", "work", "data"))
    subprocess.run([binary, "-o", f"lowerdir={lower},upperdir={upper},workdir={work}", data],
                   check=True, capture_output=True, timeout=30, start_new_session=True)
    env = {"XDG_DATA_HOME": data}
    before = set(_comms_of(user, ("fuse-overlayfs",)))
    try:
        engine("pull", image, env=env, timeout=180)
        cid = engine("run", "-d", "--network", "none", "--name", "rl-onfuse", image, "sleep", "60",
                     env=env).stdout.strip()
        rootfs = os.path.join(data, "pybox", "rw", cid, "rootfs")
        assert _mount_types(engine.pause_pid(), rootfs) == ["fuse.fuse-overlayfs"]
        daemons = set(_comms_of(user, ("fuse-overlayfs",))) - before
        assert len(daemons) == 1
        engine("exec", "rl-onfuse", "sh", "-c", "echo on-fuse > /tmp/f", env=env)
        assert engine("exec", "rl-onfuse", "cat", "/tmp/f", env=env).stdout == "on-fuse\n"
        engine("rm", "-f", "rl-onfuse", env=env)
        assert _mount_types(engine.pause_pid(), rootfs) == []
        assert _gone(daemons) == []
        assert set(_comms_of(user, ("fuse-overlayfs",))) == before
    finally:
        engine("rm", "-f", "rl-onfuse", env=env, check=False)
        engine("system", "migrate", env=env, check=False)  # the pause's copy of the mount goes
        subprocess.run(["umount", data], timeout=30, capture_output=True)  # its fuse-overlayfs exits
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if data in line] == []


def test_fuse_overlayfs_when_asked(engine, user, image):  # noqa: F811
    """PYBOX_ROOTLESS_OVERLAY=fuse (the fallback where the kernel refuses overlayfs in a user
    namespace, forced): the rootfs is a fuse-overlayfs mount in the pause process's namespace
    (never the host's); a file written by the container is read by exec and lands in the upper
    directory with the mapped owner; system migrate unmounts it (its fuse-overlayfs exits), start
    mounts it again with the file kept; rm leaves no mount and no fuse-overlayfs process."""
    if not shutil.which("fuse-overlayfs"):
        pytest.skip("fuse-overlayfs is not installed")
    fuse = {"PYBOX_ROOTLESS_OVERLAY": "fuse"}
    before = set(_comms_of(user, ("fuse-overlayfs",)))
    cid = engine("run", "-d", "--network", "none", "--name", "rl-fuse", image, "sleep", "60",
                 env=fuse).stdout.strip()
    rootfs = os.path.join(engine.store, "rw", cid, "rootfs")
    try:
        with open(f"/proc/{engine.pause_pid()}/mountinfo") as f:
            types = [line.split(" - ")[1].split()[0] for line in f if line.split()[4] == rootfs]
        assert types == ["fuse.fuse-overlayfs"]
        daemons = set(_comms_of(user, ("fuse-overlayfs",))) - before
        assert len(daemons) == 1
        engine("exec", "rl-fuse", "sh", "-c", "echo fused > /tmp/f && chown 1000:1000 /tmp/f")
        assert engine("exec", "rl-fuse", "sh", "-c", "cat /tmp/f; stat -c %u:%g /home/app").stdout.split() == \
            ["fused", "1000:1000"]
        made = os.stat(os.path.join(engine.store, "rw", cid, "upper", "tmp", "f"))
        assert (made.st_uid, made.st_gid) == (user.subuid[0] + 999, user.subgid[0] + 999)
        with open("/proc/self/mountinfo") as f:
            assert [line for line in f if rootfs in line] == []
        engine("system", "migrate")
        assert _gone(daemons) == []
        engine("start", "rl-fuse", env=fuse)
        assert engine("exec", "rl-fuse", "cat", "/tmp/f").stdout == "fused\n"
        daemons = set(_comms_of(user, ("fuse-overlayfs",))) - before
        assert len(daemons) == 1
    finally:
        engine("rm", "-f", "rl-fuse")
    assert _gone(daemons) == []
    assert set(_comms_of(user, ("fuse-overlayfs",))) == before
    assert engine.mounts_in_pause() == []
    assert not os.path.exists(os.path.join(engine.store, "rw", cid))


@pytest.mark.parametrize("flags, words", [
    (["--privileged"], ["--privileged", "rootless"]),
    (["-p", "80:80"], ["80", "ip_unprivileged_port_start"]),
    (["-m", "64m"], ["--memory", "cgroup"]),
    (["--pids-limit", "10"], ["--pids-limit", "cgroup"]),
    (["--network", "bridge"], ["bridge", "rootless"]),
])
def test_what_needs_root_is_refused_in_one_line(engine, image, flags, words):
    """What an ordinary user cannot have: exit 125, one line naming the flag, nothing made."""
    before = sorted(os.listdir(os.path.join(engine.store, "containers")))
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if flags[0] == "-p" and int(f.read()) <= 80:
            pytest.skip("port 80 is unprivileged on this host")
    done = engine("run", "--rm", *flags, image, "true", check=False)
    _one_line_refusal(done, *words)
    assert engine("ps", "-a", "-q").stdout.strip() == ""
    assert sorted(os.listdir(os.path.join(engine.store, "containers"))) == before


def _median_run(runner, image, count, **kw):
    times = []
    for _ in range(count):
        start = time.monotonic()
        done = runner("run", "--rm", "--network", "none", image, "true", **kw)
        times.append(time.monotonic() - start)
        assert done.returncode == 0, done.stderr
    return statistics.median(times)


def test_startup_against_podman(engine, image):  # noqa: F811
    """`run --rm --network none IMAGE true` as the same user, median of 5, both warm (the pause
    processes already run); pybox with fuse-overlayfs too; reported (-s shows it)."""
    ours = _median_run(engine, image, 5)
    fused = _median_run(engine, image, 5, env={"PYBOX_ROOTLESS_OVERLAY": "fuse"}) if shutil.which("fuse-overlayfs") else 0
    if not PODMAN:
        pytest.skip(f"podman is not installed (pybox: {ours * 1000:.0f} ms)")
    engine.podman("pull", "--tls-verify=false", image)
    theirs = _median_run(engine.podman, image, 5)
    print(f"\nrootless run --rm true, median of 5: pybox {ours * 1000:.0f} ms "
          f"(fuse-overlayfs {fused * 1000:.0f} ms), podman 4.3 (runc) {theirs * 1000:.0f} ms")
    assert ours < 10 * theirs + 1.0


def _processes_of(user):  # noqa: F811
    """Live processes whose uid is the user's or in its subordinate range."""
    ids = {user.uid} | set(range(user.subuid[0], user.subuid[0] + user.subuid[1]))
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _uid_of(int(name)) in ids and _alive(int(name)):
            found.append(int(name))
    return found


def test_migrate_stops_everything_and_nothing_is_left(engine, user, image):  # noqa: F811
    """system migrate stops running containers (and their pasta) and the pause process, as
    podman's does; start brings the container back (its layer mounted again in the new mount
    namespace); after rm and a last migrate: no process of the user, no mount, no file in the
    runtime directory."""
    engine("run", "-d", "-p", f"{free_port()}:80", "--stop-signal", "KILL", "--name", "rl-last", image,
           "sleep", "60")
    cid = engine("inspect", "-f", "{{.Id}}", "rl-last").stdout.strip()
    pasta, pause = _pasta_of(engine, cid), engine.pause_pid()
    engine("system", "migrate")
    assert not _alive(pause) and not _alive(pasta)
    assert engine.pause_pid() is None
    state = json.loads(engine("inspect", "rl-last").stdout)[0]["State"]
    assert state["Status"] == "exited"
    engine("start", "rl-last")  # a new pause process; the layer is mounted again there
    assert engine("exec", "rl-last", "cat", "/etc/hostname").stdout.strip() == cid[:12]
    pasta = _pasta_of(engine, cid)
    engine("rm", "-f", "rl-last")
    assert not _alive(pasta)
    engine("system", "migrate")
    if PODMAN:
        engine.podman("system", "migrate", timeout=60)
    deadline = time.monotonic() + 5
    while _processes_of(user) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [open(f"/proc/{p}/cmdline").read() for p in _processes_of(user)] == []
    ours = [os.path.join(user.runtime_dir, name) for name in ("pybox", "libpybox")]
    assert [os.path.join(top, name) for d in ours for top, _, names in os.walk(d) for name in names] == []
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if user.home in line] == []


def test_pasta_is_for_ordinary_users(tmp_path):
    """Root's containers have the bridge: --network pasta as root is one line, exit 125 (pasta
    run by root drops to nobody, who could not reach the namespace file)."""
    env = dict(os.environ, PYBOX_STORAGE=str(tmp_path / "store"))
    done = subprocess.run([PYBOX, "--root", str(tmp_path / "state"), "run", "--rm", "--network", "pasta",
                           "busybox", "true"], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    _one_line_refusal(done, "--network pasta", "ordinary users")


def test_no_runtime_directory_is_one_line(engine, user):  # noqa: F811
    """Without XDG_RUNTIME_DIR the pause process's files go to /run/user/UID (podman's
    fallback); where that does not exist either, one line says so and no pause process starts."""
    if os.path.isdir(f"/run/user/{user.uid}"):
        pytest.skip(f"/run/user/{user.uid} exists here")
    done = engine("ps", "-a", check=False, env={"XDG_RUNTIME_DIR": ""})
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"/run/user/{user.uid}" in done.stderr and "XDG_RUNTIME_DIR" in done.stderr
    assert "Traceback" not in done.stderr
