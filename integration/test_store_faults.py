"""The store after faults: what killed `rm -f`, `run` and imports leave (phantom claims, orphan
container directories), and SIGKILLs of import, pull, run -d and rm -f at random (seeded)
moments, after which pybox's own rm -f, prune and image prune must leave nothing behind and
rmi must work."""

import json
import os
import random
import signal
import subprocess
import time

import pytest

from integration.conftest import PYBOX, own_cgroup_dirs
from integration.registry import registry, skopeo_push  # noqa: F401 (fixture)
from tests.images.layouts import BASE, TOP, Layout, entry, layer_tar
from tests.engine.frontend import Docker, import_busybox

NONE = ("--network", "none")
KILLS = 15


@pytest.fixture
def docker(tmp_path):
    """The engine with a private store (these tests damage it) holding busybox."""
    d = Docker(tmp_path / "state", import_busybox(str(tmp_path / "store")))
    yield d
    d.remove_all()
    assert not d.mounts_left()


def index(docker):
    with open(os.path.join(docker.storage, "images.json")) as f:
        return json.load(f)


def containers_dir(docker, *parts):
    """The engine's records."""
    return os.path.join(docker.storage, "containers", *parts)


def rw_dir(docker, *parts):
    """The store's writable layers."""
    return os.path.join(docker.storage, "rw", *parts)


def records(docker):
    return sorted(e for e in os.listdir(containers_dir(docker)) if not e.startswith("."))


def assert_store_clean(docker):
    """No container, record, layer, claim, mount or tmp entry; and busybox can be removed."""
    assert docker.out("ps", "-a", "-q") == ""
    assert records(docker) == []
    assert os.listdir(rw_dir(docker)) == []
    assert index(docker)["containers"] == {}
    assert mounts_below(rw_dir(docker)) == mounts_below(containers_dir(docker)) == []
    assert os.listdir(os.path.join(docker.storage, "tmp")) == []
    docker("rmi", "busybox")
    assert os.listdir(os.path.join(docker.storage, "layers")) == []


def mounts_below(path):
    from pybox.images.overlay import unescape
    with open("/proc/self/mountinfo") as f:
        return [m for m in (unescape(line.split(" ")[4]) for line in f) if m.startswith(path)]


# --- what a kill leaves, made on purpose ------------------------------------------------------

def test_phantom_claim_of_a_removed_container_does_not_block_rmi(docker):
    """A kill of `rm -f` after the container's directory went but before its claim was dropped
    (4 of 36 kills did so): before, rmi said "used by container X" forever."""
    cid = docker.out("run", "-d", *NONE, "busybox", "sleep", "60").strip()
    docker("rm", "-f", cid)
    # The claim as the killed rm -f left it: the container and its directory are gone.
    claims = index(docker)
    claims["containers"][cid] = next(iter(claims["images"]))
    with open(os.path.join(docker.storage, "images.json"), "w") as f:
        json.dump(claims, f)
    assert docker.out("ps", "-a", "-q") == ""
    result = docker("rmi", "busybox", check=False)
    assert result.returncode == 0, result.stderr
    assert index(docker)["containers"] == {}


def test_prune_removes_orphan_container_directories(docker, tmp_path):
    """What ps -a cannot see: a record directory without meta.json (a killed run's or rm's), a
    writable layer without a claim (a killed mount's), one with an overlay still mounted on it,
    and a claimed layer whose container has no record. Before, neither prune nor image prune
    removed them. The engine's prune takes its own and the store's; image prune the store's."""
    half = containers_dir(docker, "a" * 64)
    os.makedirs(os.path.join(half, "etc"))
    with open(os.path.join(half, "etc", "hostname"), "w") as f:
        f.write("x")
    os.makedirs(rw_dir(docker, "b" * 64, "upper"))
    mounted = rw_dir(docker, "c" * 64)
    for sub in ("upper", "work", "rootfs"):
        os.makedirs(os.path.join(mounted, sub))
    lower = tmp_path / "lower"
    lower.mkdir()
    subprocess.run(["mount", "-t", "overlay", "pybox-test", "-o",
                    f"lowerdir={lower},upperdir={mounted}/upper,workdir={mounted}/work",
                    os.path.join(mounted, "rootfs")], check=True, timeout=30)
    kept = docker.out("run", "-d", *NONE, "busybox", "sleep", "60").strip()
    unrecorded = docker.out("run", "-d", *NONE, "busybox", "true").strip()
    docker("wait", unrecorded)
    from pybox.images.files import remove_tree
    remove_tree(containers_dir(docker, unrecorded))  # its layer stays claimed
    assert docker.out("ps", "-a", "-q", "--no-trunc").split() == [kept]
    docker("prune")
    assert records(docker) == [kept] and os.listdir(rw_dir(docker)) == [kept]
    # The runtime's container of the lost record goes too, with its cgroups (they were left).
    assert unrecorded not in os.listdir(docker.root)
    assert not [d for d in own_cgroup_dirs(f"pybox-test/{unrecorded}") if os.path.isdir(d)]
    assert mounts_below(rw_dir(docker)) == [rw_dir(docker, kept, "rootfs")]
    assert list(index(docker)["containers"]) == [kept]
    docker("rm", "-f", kept)
    # image prune does the same for the store's layers.
    os.makedirs(rw_dir(docker, "d" * 64, "upper"))
    docker("image", "prune")
    assert_store_clean(docker)


@pytest.fixture
def full_store(tmp_path):
    """The engine with its store on a 16 MiB tmpfs, busybox in it, and the rest filled."""
    storage = tmp_path / "small"
    storage.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "pybox-test", str(storage)],
                   check=True, timeout=30)
    try:
        d = Docker(tmp_path / "state", import_busybox(str(storage)))
        filler = storage / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (64 << 10))
                    f.flush()
            except OSError:
                pass
        yield d, filler
        d.remove_all()
    finally:
        if subprocess.run(["umount", str(storage)], timeout=30).returncode:
            subprocess.run(["umount", "-l", str(storage)], check=True, timeout=30)
            raise AssertionError("the store was still in use (a mount left on it)")


def test_run_on_a_full_store_leaves_no_directory(full_store):
    docker, filler = full_store
    result = docker("run", *NONE, "busybox", "true", check=False)
    assert result.returncode == 125, (result.returncode, result.stderr)  # docker's: pybox itself failed
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert records(docker) == [] and os.listdir(rw_dir(docker)) == []
    filler.unlink()
    docker("run", "--rm", *NONE, "busybox", "true")
    assert_store_clean(docker)


# --- random SIGKILLs ---------------------------------------------------------------------------

def kill_at_random(argv, env, seed, kills=KILLS, settle=None):
    """Run argv `kills` times, each SIGKILLed after a seeded random delay within the time one
    full run takes; returns how many runs finished before their kill."""
    rng = random.Random(seed)
    started = time.monotonic()
    subprocess.run(argv(-1), env=env, capture_output=True, timeout=120, check=True)
    full = time.monotonic() - started
    if settle:
        settle(-1)
    finished = 0
    for i in range(kills):
        proc = subprocess.Popen(argv(i), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, full * 1.1))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        else:
            finished += 1
        proc.wait(30)
        if settle:
            settle(i)
    print(f"{' '.join(argv(-1)[:3])}...: {full:.2f} s a run, {kills - finished} of {kills} killed")
    return finished


def store_env(tmp_path):
    storage = str(tmp_path / "store")
    return storage, dict(os.environ, PYBOX_STORAGE=storage)


def check_after_prune(storage, env):
    """image prune, then: tmp empty, every blob and layer belongs to an image; rmi of all works."""
    subprocess.run([PYBOX, "image", "prune"], env=env, check=True, capture_output=True, timeout=60)
    assert os.listdir(os.path.join(storage, "tmp")) == []
    with open(os.path.join(storage, "images.json")) as f:
        records = json.load(f)["images"].values()
    assert set(os.listdir(os.path.join(storage, "blobs", "sha256"))) == \
        {d[7:] for r in records for d in r["blobs"]}
    assert set(os.listdir(os.path.join(storage, "layers"))) == \
        {c[7:] for r in records for c in r["chain"]}
    ids = [r["id"] for r in records]
    if ids:
        subprocess.run([PYBOX, "rmi", *ids], env=env, check=True, capture_output=True, timeout=60)
    assert os.listdir(os.path.join(storage, "layers")) == []
    assert os.listdir(os.path.join(storage, "blobs", "sha256")) == []


def test_killed_imports_leave_nothing_after_image_prune(tmp_path):
    storage, env = store_env(tmp_path)
    layout = Layout(tmp_path / "layout")
    layers = [BASE, TOP] + [[entry(f"big{i}", data=os.urandom(4 << 20))] for i in range(3)]
    layout.tag(layout.image(layers), "v1")
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(layer_tar([entry("f", data=os.urandom(8 << 20))]))
    for seed, source in ((1, layout.path), (2, str(rootfs))):
        # The invariant holds after every kill; and each import starts from an empty store.
        kill_at_random(lambda i, source=source: [PYBOX, "import", source, f"app:{i + 1}"], env, seed,
                       settle=lambda i: check_after_prune(storage, env))
    subprocess.run([PYBOX, "import", layout.path, "app:again"], env=env, check=True,
                   capture_output=True, timeout=60)
    check_after_prune(storage, env)


def test_killed_pulls_leave_nothing_after_image_prune(tmp_path, registry):
    storage, env = store_env(tmp_path)
    layout = Layout(tmp_path / "layout")
    layers = [BASE, TOP] + [[entry(f"big{i}", data=os.urandom(4 << 20))] for i in range(3)]
    layout.tag(layout.image(layers), "v1")
    ref = f"{registry.host}/faults/app:v1"
    skopeo_push(layout.path, "v1", ref)
    conf = tmp_path / "registries.yaml"
    conf.write_text("retries: 1\n")
    env["PYBOX_REGISTRIES_CONF"] = str(conf)
    kill_at_random(lambda i: [PYBOX, "pull", "-q", ref], env, 3,
                   settle=lambda i: check_after_prune(storage, env))
    subprocess.run([PYBOX, "pull", "-q", ref], env=env, check=True, capture_output=True, timeout=60)
    check_after_prune(storage, env)


def test_killed_run_and_rm_leave_nothing_after_rm_prune_and_image_prune(docker):
    argv = lambda *a: docker.argv(*a)  # noqa: E731

    def run(i):
        return argv("run", "-d", *NONE, "--name", f"r{i}", "busybox", "sleep", "300")
    kill_at_random(run, docker.env, 4)
    victims = []

    def rm(i):
        return argv("rm", "-f", victims.pop() if i >= 0 else "r-1")

    def next_victim(_):
        victims.append(docker.out("run", "-d", *NONE, "busybox", "sleep", "300").strip())
    kill_at_random(rm, docker.env, 5, kills=20, settle=next_victim)  # many finish first
    # pybox's own cleanup: rm -f of all it lists, prune, image prune.
    ids = docker.out("ps", "-a", "-q", "--no-trunc").split()
    if ids:
        docker("rm", "-f", *ids)
    docker("prune")
    docker("image", "prune")
    assert_store_clean(docker)


def test_engine_with_a_store_path_with_spaces_leaves_no_mount(tmp_path):
    """Before: mountinfo's \\040 was not decoded, so every container's overlay stayed mounted
    (and its directory could not be removed)."""
    d = Docker(tmp_path / "state", import_busybox(str(tmp_path / "my store")))
    try:
        assert d.out("run", "--rm", *NONE, "busybox", "echo", "hi") == "hi\n"
        cid = d.out("run", "-d", *NONE, "busybox", "sleep", "60").strip()
        assert len(mounts_below(rw_dir(d))) == 1
        d("rm", "-f", cid)
        assert mounts_below(rw_dir(d)) == mounts_below(containers_dir(d)) == []
        assert records(d) == [] and os.listdir(rw_dir(d)) == []
    finally:
        d.remove_all()
        for mount in mounts_below(rw_dir(d)):  # what the bug left
            subprocess.run(["umount", "-l", mount], timeout=30)
