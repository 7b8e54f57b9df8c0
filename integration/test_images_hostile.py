"""The image store under hostile input, through the `pybox` command as a user runs it: layouts
with symlinks out of them, corrupt docker-save layers, decompression bombs, very deep layers,
leftovers in tmp/, store paths with spaces, and garbage archives; then a fuzz test.

Every bad input must give one line on stderr naming the step, exit status 1, no traceback, no
hang, and leave nothing in the store.
"""

import gzip
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from integration.conftest import PYBOX
from integration.test_images_store import outside  # noqa: F401 (fixture)
from tests.images.layouts import BASE, Layout, compress, docker_save, entry, layer_tar, tar_of_dir

LIMIT_VARS = ("PYBOX_MAX_LAYER_SIZE", "PYBOX_MAX_RATIO", "PYBOX_RATIO_FLOOR")


class Cli:
    """`pybox` with a private store and a settings file carrying `limits`."""

    def __init__(self, path, **limits):
        self.path = str(path)
        self.storage = os.path.join(self.path, "store")
        conf = os.path.join(self.path, "registries.yaml")
        os.makedirs(self.path, exist_ok=True)
        with open(conf, "w") as f:
            json.dump({"limits": limits}, f)  # JSON is YAML
        self.env = {k: v for k, v in os.environ.items() if k not in LIMIT_VARS}
        self.env.update(PYBOX_STORAGE=self.storage, PYBOX_REGISTRIES_CONF=conf)

    def __call__(self, *args, timeout=60, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run([PYBOX, *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout, **kw)

    def ok(self, *args, **kw):
        result = self(*args, **kw)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fails(self, *args, step="", **kw):
        """One line on stderr, naming the step; exit status 1; no traceback."""
        result = self(*args, **kw)
        assert result.returncode == 1, (result.returncode, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert step in result.stderr, result.stderr
        return result.stderr

    def path_in_store(self, *parts):
        return os.path.join(self.storage, *parts)

    def snapshot(self):
        """What the store holds: blobs, layers, images, claims."""
        index_path = self.path_in_store("images.json")
        index = json.load(open(index_path)) if os.path.exists(index_path) else {}
        return (sorted(os.listdir(self.path_in_store("blobs", "sha256"))),
                sorted(os.listdir(self.path_in_store("layers"))),
                sorted(index.get("images", {})), index.get("containers", {}))

    def check_consistent(self):
        """tmp/ is empty, every blob has the digest it is named by and belongs to an image,
        every layer directory belongs to an image."""
        assert os.listdir(self.path_in_store("tmp")) == []
        blobs, layers, _, _ = self.snapshot()
        index_path = self.path_in_store("images.json")
        records = json.load(open(index_path))["images"].values() if os.path.exists(index_path) else []
        used_blobs = {d[7:] for r in records for d in r["blobs"]}
        used_layers = {c[7:] for r in records for c in r["chain"]}
        assert set(blobs) == used_blobs
        assert set(layers) == used_layers
        for name in blobs:
            with open(self.path_in_store("blobs", "sha256", name), "rb") as f:
                assert hashlib.file_digest(f, "sha256").hexdigest() == name


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path / "cli")


# --- 4: layouts with symlinks out of them ----------------------------------------------------

@pytest.mark.parametrize("target", ["docker layer.tar", "docker config", "oci blob",
                                    "manifest.json"])
def test_layout_file_symlinked_out_of_the_layout_is_refused(cli, tmp_path, outside, target):
    """Before: the host file the symlink points at was read and imported as the layer."""
    layers = [[entry("f", data=b"host data")]]
    if target != "oci blob":
        src = docker_save(tmp_path / "save", layers)
        manifest = json.load(open(os.path.join(src, "manifest.json")))[0]
        inner = {"docker layer.tar": manifest["Layers"][0], "docker config": manifest["Config"],
                 "manifest.json": "manifest.json"}[target]
    else:
        layout = Layout(tmp_path / "save")
        layout.tag(layout.image(layers, compression=None), "v1")
        src = layout.path
        manifest = json.load(open(os.path.join(src, "index.json")))["manifests"][0]
        manifest = json.load(open(os.path.join(src, "blobs", "sha256", manifest["digest"][7:])))
        inner = "blobs/sha256/" + manifest["layers"][0]["digest"][7:]
    # The host file holds exactly what the layout expects, so only the symlink is wrong.
    host_file = outside / "host-file"
    os.rename(os.path.join(src, inner), host_file)
    os.symlink(str(host_file), os.path.join(src, inner))
    cli.fails("import", src, "app:v1", step="outside the layout")
    assert cli.snapshot() == ([], [], [], {})
    cli.check_consistent()
    # A relative symlink that stays inside the layout (docker save links repeated layers) works.
    os.unlink(os.path.join(src, inner))
    os.rename(host_file, os.path.join(src, "copy"))
    os.symlink(os.path.relpath(os.path.join(src, "copy"), os.path.dirname(os.path.join(src, inner))),
               os.path.join(src, inner))
    cli.ok("import", src, "app:v1")


def test_fifo_in_a_layout_is_refused_without_hanging(cli, tmp_path):
    src = docker_save(tmp_path / "save", [[entry("f", data=b"x")]])
    manifest = json.load(open(os.path.join(src, "manifest.json")))[0]
    os.unlink(os.path.join(src, manifest["Layers"][0]))
    os.mkfifo(os.path.join(src, manifest["Layers"][0]))
    cli.fails("import", src, step="not a regular file", timeout=30)
    cli.check_consistent()


# --- 5: corrupt docker-save layers whose layer is stored already ------------------------------

@pytest.mark.parametrize("damage", ["empty", "other content", "truncated"])
def test_corrupt_docker_layer_is_refused_when_its_layer_is_stored(cli, tmp_path, damage):
    """Before: the bad layer.tar was taken because a layer with its diff id was unpacked
    already, and the store then held (and `push` would publish) a blob that is not the layer."""
    good = docker_save(tmp_path / "good", [BASE])
    cli.ok("import", good)
    before = cli.snapshot()
    bad = docker_save(tmp_path / "bad", [BASE])
    layer = os.path.join(bad, json.load(open(os.path.join(bad, "manifest.json")))[0]["Layers"][0])
    data = open(layer, "rb").read()
    data = {"empty": b"", "other content": layer_tar([entry("evil", data=b"x")]),
            "truncated": data[:len(data) // 2]}[damage]
    open(layer, "wb").write(data)
    err = cli.fails("import", tar_of_dir(bad, tmp_path / "bad.tar"), "bad:v1", step="layer 1/1")
    assert "diff id" in err or "tar" in err
    assert cli.snapshot() == before
    cli.check_consistent()


def test_layer_blob_of_another_layer_is_refused(cli, tmp_path):
    """An OCI layout whose manifest names a blob the store has, for a layer the store has,
    but not that layer's blob: before, recorded as is (and `push` would publish it)."""
    from tests.images.layouts import OCI_MANIFEST, digest
    one, two = [entry("one", data=b"1")], [entry("two", data=b"2")]
    for layers, tag in (([one], "one"), ([two], "two")):
        layout = Layout(tmp_path / tag)
        layout.tag(layout.image(layers), "v1")
        cli.ok("import", layout.path, f"{tag}:v1")
    before = cli.snapshot()
    layout = Layout(tmp_path / "mixed")
    good = Layout(tmp_path / "scratch")
    wrong_blob = good.blob(compress(layer_tar(two), "gzip"))
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [digest(layer_tar(one))]}}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **layout.blob(json.dumps(config).encode())},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            **wrong_blob}]}
    layout.blob(compress(layer_tar(two), "gzip"))
    layout.tag({"mediaType": OCI_MANIFEST, **layout.blob(json.dumps(manifest).encode())}, "v1")
    cli.fails("import", layout.path, "mixed:v1", step="unpack layer 1/1: uncompressed digest")
    assert cli.snapshot() == before
    cli.check_consistent()


# --- 6: decompression bombs, with small limits from the settings file ------------------------

def zeros_layer(size):
    return layer_tar([entry("zeros", data=b"\0" * size)])


def test_gzip_bomb_stops_at_the_configured_size(tmp_path):
    cli = Cli(tmp_path / "cli", max_layer_size="4M")
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(compress(zeros_layer(32 << 20), "gzip"))
    err = cli.fails("import", str(bomb), "bomb", step="unpack layer 1/1")
    assert "more than 4194304 bytes" in err and "decompression bomb" in err
    cli.check_consistent()


def test_bomb_stops_at_the_ratio(tmp_path):
    """Before: no ratio limit, so 32 MiB of zeros in a 32 KiB gzip (or zstd) was unpacked."""
    cli = Cli(tmp_path / "cli", max_ratio=20, ratio_floor="1M")
    for how in ("gzip", "zstd"):
        bomb = tmp_path / f"bomb.{how}"
        bomb.write_bytes(compress(zeros_layer(32 << 20), how))
        started = time.monotonic()
        err = cli.fails("import", str(bomb), "bomb", step="unpack layer 1/1")
        assert "expands more than 20 times" in err and time.monotonic() - started < 10
        cli.check_consistent()
    # An ordinary layer is well within the ratio.
    normal = tmp_path / "normal.tar.gz"
    normal.write_bytes(compress(layer_tar(BASE + [entry("rand", data=os.urandom(3 << 20))]), "gzip"))
    cli.ok("import", str(normal), "normal")


def test_sparse_tar_bomb_counts_apparent_sizes(tmp_path):
    """A 10 KiB GNU sparse tar of a 512 MiB hole. Before: written in full (the limit was 64 GiB
    and the free space); now the apparent size written counts against the ratio."""
    cli = Cli(tmp_path / "cli", max_ratio=20, ratio_floor="1M")
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(512 << 20)
    path = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "-C", str(tmp_path), "-cf", str(path), "big"], check=True,
                   timeout=60)
    big.unlink()
    assert path.stat().st_size < 64 << 10
    err = cli.fails("import", str(path), "sparse", step="unpack layer 1/1")
    assert "decompression bomb" in err
    cli.check_consistent()


def test_gzipped_docker_archive_bomb_stops_while_decompressing(tmp_path):
    """`docker save | gzip` is decompressed to a temporary file first. Before: with no limit."""
    cli = Cli(tmp_path / "cli", max_layer_size="4M")
    save = docker_save(tmp_path / "save", [[entry("zeros", data=b"\0" * (32 << 20))]])
    archive = tar_of_dir(save, tmp_path / "save.tar")
    with open(archive, "rb") as f, gzip.open(tmp_path / "save.tar.gz", "wb", compresslevel=1) as out:
        out.write(f.read())
    err = cli.fails("import", str(tmp_path / "save.tar.gz"), step="decompressing")
    assert "decompression bomb" in err
    cli.check_consistent()


def test_bad_limits_setting_is_one_line(tmp_path):
    cli = Cli(tmp_path / "cli", max_ratio="lots")
    path = tmp_path / "layer.tar"
    path.write_bytes(layer_tar([entry("f", data=b"x")]))
    cli.fails("import", str(path), step="limits.max_ratio")
    cli.env["PYBOX_MAX_RATIO"] = "50"  # the environment wins over the file
    cli.ok("import", str(path), "ok")


# --- 7: very deep layers ----------------------------------------------------------------------

def deep_entries(depth, then=()):
    entries, path = [], ""
    for i in range(depth):
        path = f"{path}/d" if path else "d"
        entries.append(entry(path, "dir", mode=0o500 if i % 7 else 0o000))
    entries.append(entry(f"{path}/f", data=b"bottom"))
    return entries + list(then)


def test_very_deep_layer_can_be_removed(cli, tmp_path):
    """1500 nested directories, some without permissions. Before: every later rmi and image
    prune failed with a RecursionError (shutil.rmtree), until an rm -rf by hand."""
    from pybox.images.files import remove_tree
    path = tmp_path / "deep.tar"
    path.write_bytes(layer_tar(deep_entries(1500)))
    try:
        cli.ok("import", str(path), "deep")
        cli.ok("rmi", "deep")
        assert cli.snapshot()[:3] == ([], [], [])
        # Replaced in a later entry of the same layer: the unpacker removes the deep tree too.
        path.write_bytes(layer_tar(deep_entries(1500, [entry("d", data=b"now a file")])))
        cli.ok("import", str(path), "deep")
        cli.ok("image", "prune")
        cli.ok("rmi", "deep")
        cli.check_consistent()
    finally:
        remove_tree(cli.path)  # pytest's own cleanup of old temp dirs uses shutil.rmtree


def test_remove_tree_never_follows_symlinks_or_crosses_mounts(tmp_path, outside):
    from pybox.images.files import remove_tree
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "link").symlink_to(outside)
    (tree / "a" / "secret-link").symlink_to(outside / "secret")
    (tree / "a" / "b" / "f").write_text("x")
    os.chmod(tree / "a" / "b", 0)
    remove_tree(str(tree))
    assert not tree.exists() and (outside / "secret").read_text() == "untouched"
    (tree / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "t", str(tree / "mnt")], check=True, timeout=30)
    try:
        (tree / "mnt" / "kept").write_text("x")
        with pytest.raises(OSError):
            remove_tree(str(tree))
        assert (tree / "mnt" / "kept").exists()
    finally:
        subprocess.run(["umount", str(tree / "mnt")], check=True, timeout=30)
    remove_tree(str(tree))
    assert not tree.exists()


# --- 9: leftovers in tmp/ ---------------------------------------------------------------------

HOLD_FLOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_image_prune_collects_tmp_but_not_what_a_live_process_holds(cli, tmp_path):
    """Before: files in tmp/ (a partial blob of a killed import) were never removed, and a
    directory a running import was writing in was removed under it."""
    cli.ok("image", "ls")  # makes the store
    tmp = cli.path_in_store("tmp")
    with open(os.path.join(tmp, "import-1234-7f00"), "wb") as f:
        f.write(os.urandom(1 << 20))
    os.makedirs(os.path.join(tmp, "layer-dead", "usr", "bin"))
    os.makedirs(os.path.join(tmp, "layer-live"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FLOCK, os.path.join(tmp, "layer-live")],
                              stdout=subprocess.PIPE)
    try:
        assert select.select([holder.stdout], [], [], 10)[0], "the holder never took the lock"
        assert holder.stdout.readline() == b"locked\n"
        cli.ok("image", "prune")
        assert os.listdir(tmp) == ["layer-live"]
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()
    cli.ok("image", "prune")
    assert os.listdir(tmp) == []


@pytest.fixture
def small_store(tmp_path):
    """A store on an 8 MiB tmpfs."""
    cli = Cli(tmp_path / "small")
    os.makedirs(cli.storage)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "pybox-test", cli.storage],
                   check=True, timeout=30)
    yield cli
    subprocess.run(["umount", cli.storage], check=True, timeout=30)


def test_full_store_recovers_after_a_killed_import(small_store, tmp_path):
    """A partial blob from a killed import fills the 8 MiB store; image prune must free it
    (before: it exited 1, and the file stayed)."""
    cli = small_store
    cli.ok("image", "ls")
    # What an import killed while copying a blob left (the older versions' tmp/ names).
    with open(cli.path_in_store("tmp", "import-4242-7f0012"), "wb") as f:
        f.write(b"\0" * (7 << 20))
    # A kill now: `import -` holds half a layer when it dies.
    proc = subprocess.Popen([PYBOX, "import", "-", "half"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli.env)
    try:
        proc.stdin.write(layer_tar([entry("f", data=b"y" * (512 << 10))])[:300 << 10])
        proc.stdin.flush()
        deadline = time.monotonic() + 10
        while not any(os.listdir(os.path.join(cli.path_in_store("tmp"), d))
                      for d in os.listdir(cli.path_in_store("tmp")) if d.startswith("stdin-")):
            assert time.monotonic() < deadline, "import - never started writing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
        proc.stdin.close()
        proc.stderr.close()
    cli.ok("image", "prune")
    assert os.listdir(cli.path_in_store("tmp")) == []
    layer = tmp_path / "layer.tar"
    layer.write_bytes(layer_tar([entry("f", data=os.urandom(3 << 20))]))
    cli.ok("import", str(layer), "fits")
    # Too big for the store: ENOSPC is one line, and nothing stays behind.
    layer.write_bytes(layer_tar([entry("f", data=os.urandom(6 << 20))]))
    cli.fails("import", str(layer), "too-big", step="import")
    cli.check_consistent()
    cli.ok("rmi", "fits")
    cli.check_consistent()


# --- 10: a store path with a space ------------------------------------------------------------

def mounts_below(path):
    from pybox.images.overlay import unescape
    with open("/proc/self/mountinfo") as f:
        return [m for m in (unescape(line.split(" ")[4]) for line in f) if m.startswith(path)]


def test_store_path_with_spaces_unmounts(tmp_path):
    """Before: mountinfo's \\040 was not decoded, so the overlay of every container leaked."""
    from pybox.images.busybox import import_busybox
    from pybox.images.store import Store
    store = Store(str(tmp_path / "my store\twith spaces"))
    image = import_busybox(store)
    rootfs = store.mount_rootfs(image, "c1")
    try:
        assert mounts_below(store.root) == [rootfs]
    finally:
        store.unmount_rootfs("c1")
    assert mounts_below(store.root) == []
    assert os.listdir(store.path("rw")) == []


# --- 12: garbage archives ---------------------------------------------------------------------

GARBAGE = {
    "zstd magic then garbage": b"\x28\xb5\x2f\xfd" + b"garbage" * 100,
    "gzip of something not a tar": gzip.compress(b"hello, this is not a tar\n" * 100),
    "a bare gzip header": gzip.compress(b"")[:10],
    "truncated gzip": gzip.compress(layer_tar(BASE))[:300],
    "zstd of something not a tar": compress(b"not a tar at all\n" * 100, "zstd"),
    "not a tar": b"hello\n" * 1000,
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_archive_is_one_line(cli, tmp_path, case):
    """Before: tracebacks (zstd, gzip of a non-tar), or exit 130 with no message (bare gzip)."""
    path = tmp_path / "garbage"
    path.write_bytes(GARBAGE[case])
    cli.fails("import", str(path), "garbage", step=f"import {path}")
    result = subprocess.run([PYBOX, "import", "-", "garbage"], input=GARBAGE[case],
                            capture_output=True, env=cli.env, timeout=60)
    assert result.returncode == 1 and result.stderr.count(b"\n") == 1, result.stderr
    cli.check_consistent()


# --- the fuzz test ----------------------------------------------------------------------------

def valid_inputs(path):
    """Valid archives and layers to mutate: name -> bytes."""
    small = [entry("etc", "dir"), entry("etc/hosts", data=b"127.0.0.1 localhost\n"),
             entry("bin", "dir"), entry("bin/sh", data=os.urandom(3000), mode=0o755),
             entry("bin/ln", "symlink", link="sh"), entry("bin/hard", "hardlink", link="bin/sh")]
    tar = layer_tar(small)
    save = docker_save(os.path.join(path, "save"), [small, [entry("top", data=b"top")]])
    archive = open(tar_of_dir(save, os.path.join(path, "save.tar")), "rb").read()
    layout = Layout(os.path.join(path, "oci"))
    layout.tag(layout.image([small], compression="zstd"), "v1")
    oci = open(tar_of_dir(layout.path, os.path.join(path, "oci.tar")), "rb").read()
    inputs = {"tar": tar, "gzip": compress(tar, "gzip"), "zstd": compress(tar, "zstd"),
              "docker-archive": archive, "docker-archive.gz": compress(archive, "gzip"),
              "oci-archive": oci}
    # Layout directories, one file of which is mutated: "DIR:RELATIVE NAME".
    for top in (save, layout.path):
        for parent, _, files in os.walk(top):
            for name in files:
                with open(os.path.join(parent, name), "rb") as f:
                    inputs[f"{top}:{os.path.relpath(os.path.join(parent, name), top)}"] = f.read()
    return inputs


HOSTILE_ENTRIES = [
    [entry("../escape", data=b"x")],
    [entry("/OUTSIDE/evil", data=b"x")],
    [entry("p", "symlink", link="/OUTSIDE"), entry("p/evil", data=b"x")],
    [entry("h", "hardlink", link="/OUTSIDE/secret")],
    [entry("p", "symlink", link="/OUTSIDE"), entry("p/.wh.secret")],
    [entry("x", "dir"), entry("x/.wh..wh..opq"), entry("x/y", "hardlink", link="x")],
]


def test_fuzz_import(tmp_path, outside):
    from hypothesis import HealthCheck, given, settings, strategies as st
    inputs = valid_inputs(str(tmp_path / "valid"))
    bomb = compress(zeros_layer(16 << 20), "gzip")
    magics = [b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd", b"\0\0\0\0", b"PK\x03\x04"]
    counter = iter(range(10 ** 6))

    def hostile(i, how):
        entries = [dict(e, name=e["name"].replace("OUTSIDE", str(outside).lstrip("/")),
                        link=e["link"].replace("OUTSIDE", str(outside).lstrip("/")))
                   for e in HOSTILE_ENTRIES[i]]
        return compress(layer_tar(entries), how)

    mutation = st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)),
                                            min_size=1, max_size=4)),
        st.tuples(st.just("magic"), st.sampled_from(magics)),
        st.tuples(st.just("bomb"), st.just(None)),
        st.tuples(st.just("hostile"), st.tuples(st.integers(0, len(HOSTILE_ENTRIES) - 1),
                                                st.sampled_from([None, "gzip", "zstd"]))))

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(sorted(inputs)), change=mutation)
    def fuzz(kind, change):
        data = inputs[kind]
        what, arg = change
        if what == "truncate":
            data = data[:int(len(data) * arg)]
        elif what == "flip":
            data = bytearray(data)
            for where, bits in arg:
                data[min(int(len(data) * where), len(data) - 1)] ^= bits
            data = bytes(data)
        elif what == "magic":
            data = arg + data[4:]
        elif what == "bomb":
            data = bomb
        else:
            data = hostile(*arg)
        cli = Cli(tmp_path / f"fuzz-{next(counter)}", max_layer_size="8M", max_ratio=50,
                  ratio_floor="1M")
        path = os.path.join(cli.path, "input")
        if ":" in kind:  # a layout directory with this file changed
            top, name = kind.split(":")
            shutil.copytree(top, path, symlinks=True)
            with open(os.path.join(path, name), "wb") as f:
                f.write(data)
        else:
            with open(path, "wb") as f:
                f.write(data)
        result = cli("import", path, "fuzzed", timeout=30)
        assert result.returncode in (0, 1), (kind, change, result.stderr)
        if result.returncode:
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
            assert result.stderr.startswith(f"pybox: import {path}") or "import" in result.stderr
        else:
            assert cli.ok("images", "-q").strip()
        if what in ("bomb", "hostile") and ":" not in kind:  # in a layout: maybe unread
            assert result.returncode == 1, (kind, change)
        cli.check_consistent()
        assert os.listdir(outside) == ["secret"]
        assert (outside / "secret").read_text() == "untouched"
        from pybox.images.files import remove_tree
        remove_tree(cli.path)

    fuzz()
    examples = next(counter)
    print(f"fuzz: {examples} imports")
    assert examples >= 50
