"""The image store as root: import, safe unpacking of hostile layers, whiteouts, overlay rootfs."""

import gzip
import os
import stat
import subprocess

import pytest

from pybox.errors import PyboxError
from pybox.images.busybox import import_busybox, write_rootfs_tar
from pybox.images.config import to_runtime_spec
from pybox.images.importer import import_image
from pybox.images.store import Store
from integration.conftest import PYBOX
from tests.images.layouts import BASE, TOP, Layout, compress, entry, layer_tar


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "store"), max_layer_size=32 << 20)


@pytest.fixture
def outside(tmp_path):
    """A directory outside the store that hostile layers aim at."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_text("untouched")
    return path


def store_is_clean(store):
    assert os.listdir(store.path("layers")) == []
    assert os.listdir(store.path("blobs", "sha256")) == []
    assert os.listdir(store.path("tmp")) == []
    assert store.images() == []


def test_busybox_import_mounts_a_rootfs_that_runs(store):
    image = import_busybox(store)
    assert image.names == ["docker.io/library/busybox:latest"]
    rootfs = store.mount_rootfs(image, "c1")
    try:
        out = subprocess.run(["chroot", rootfs, "/bin/sh", "-c", "echo hi > /tmp/x; cat /tmp/x"],
                             capture_output=True, text=True, check=True).stdout
        assert out == "hi\n"
        assert store.containers() == {"c1": image.id}
        with pytest.raises(PyboxError, match="already has a rootfs"):
            store.mount_rootfs(image, "c1")
        assert os.path.ismount(rootfs)
        # The write went to the container's upper dir, not the shared layer.
        assert not os.path.exists(os.path.join(image.layer_dirs()[0], "tmp", "x"))
    finally:
        store.unmount_rootfs("c1")
    store.unmount_rootfs("c1")  # idempotent
    assert store.containers() == {}
    assert not os.path.exists(store.path("rw", "c1"))


def test_rmi_keeps_an_image_a_container_uses(store):
    image = import_busybox(store)
    store.mount_rootfs(image, "c1")
    try:
        with pytest.raises(PyboxError, match="used by container c1"):
            store.remove("busybox")
        assert store.prune() == []
        store.remove("busybox", force=True)  # untags, keeps the layers for c1
        assert os.listdir(image.layer_dirs()[0])
    finally:
        store.unmount_rootfs("c1")
    assert store.prune() == [image.id]
    assert os.listdir(store.path("layers")) == []
    assert sorted(os.listdir(store.path("locks"))) == ["gc", "index", "rw"]
    assert os.listdir(store.path("blobs", "sha256")) == []


def test_whiteouts_become_overlay_whiteouts(store, tmp_path):
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([BASE, TOP], compression="zstd"), "latest")
    image = import_image(store, str(tmp_path / "layout"), "wh")
    top = image.layer_dirs()[1]
    st = os.lstat(os.path.join(top, "b"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(top, "c"), "trusted.overlay.opaque") == b"y"
    rootfs = store.mount_rootfs(image, "c1")
    try:
        assert sorted(os.listdir(rootfs + "/a")) == ["f2", "f3"]
        assert not os.path.exists(rootfs + "/b")
        assert os.listdir(rootfs + "/c") == ["new"]
        assert os.stat(rootfs + "/bin/tool").st_mode & 0o7777 == 0o4755
        assert os.stat(rootfs + "/bin/hard").st_ino == os.stat(rootfs + "/bin/tool").st_ino
        assert os.readlink(rootfs + "/bin/alias") == "tool"
        assert os.stat(rootfs + "/home/app").st_uid == 1000
        assert os.getxattr(rootfs + "/caps", "user.note") == b"hello"
        assert os.getxattr(rootfs + "/bin/capped", "security.capability") == \
            b"\x01\x00\x00\x02\x80\x04\x00\x00" + bytes(12)
        assert stat.S_ISFIFO(os.lstat(rootfs + "/fifo").st_mode)
    finally:
        store.unmount_rootfs("c1")


def test_many_layers_mount(store, tmp_path):
    layout = Layout(tmp_path / "layout")
    layers = [[entry(f"f{i:03d}", data=str(i).encode())] for i in range(300)]
    layout.tag(layout.image(layers, compression=None), "latest")
    image = import_image(store, str(tmp_path / "layout"), "many")
    rootfs = store.mount_rootfs(image, "c1")
    try:
        assert len(os.listdir(rootfs)) == 300
    finally:
        store.unmount_rootfs("c1")


HOSTILE = {
    "dotdot": [entry("../escape", data=b"x")],
    "absolute": [entry("/OUTSIDE/evil", data=b"x")],
    "symlinked parent": [entry("p", "symlink", link="/OUTSIDE"), entry("p/evil", data=b"x")],
    "relative symlinked parent": [entry("p", "symlink", link="../../../../../../../OUTSIDE"),
                                  entry("p/evil", data=b"x")],
    "hardlink to outside": [entry("h", "hardlink", link="/OUTSIDE/secret")],
    "hardlink up": [entry("h", "hardlink", link="../../../../OUTSIDE/secret")],
    "symlink then file through it": [entry("s", "symlink", link="/OUTSIDE"),
                                     entry("s/secret", data=b"overwritten")],
    "dev as a symlink": [entry("dev", "symlink", link="/dev"), entry("dev/null", "char")],
    "hardlink through a symlink": [entry("p", "symlink", link="/OUTSIDE"),
                                   entry("h", "hardlink", link="p/secret")],
    "whiteout through a symlink": [entry("p", "symlink", link="/OUTSIDE"), entry("p/.wh.secret")],
    "opaque through a symlink": [entry("p", "symlink", link="/OUTSIDE"), entry("p/.wh..wh..opq")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layer_fails_cleanly(store, tmp_path, outside, case):
    entries = [dict(e, name=e["name"].replace("OUTSIDE", str(outside).lstrip("/")),
                    link=e["link"].replace("OUTSIDE", str(outside).lstrip("/")))
               for e in HOSTILE[case]]
    path = tmp_path / "layer.tar"
    path.write_bytes(layer_tar(entries))
    with pytest.raises(PyboxError) as err:
        import_image(store, str(path), "hostile")
    assert "\n" not in str(err.value)
    assert os.listdir(outside) == ["secret"]
    assert (outside / "secret").read_text() == "untouched"
    store_is_clean(store)


def test_symlink_replaced_by_file_stays_inside(store, tmp_path, outside):
    path = tmp_path / "layer.tar"
    path.write_bytes(layer_tar([entry("s", "symlink", link=f"{outside}/secret"),
                                entry("s", data=b"mine")]))
    image = import_image(store, str(path), "ok")
    assert open(os.path.join(image.layer_dirs()[0], "s")).read() == "mine"
    assert (outside / "secret").read_text() == "untouched"


def test_decompression_bomb_stops(store, tmp_path):
    bomb = gzip.compress(layer_tar([entry("zeros", data=b"\0" * (64 << 20))]), 9)
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(bomb)
    assert len(bomb) < 1 << 20
    with pytest.raises(PyboxError, match="decompression bomb"):
        import_image(store, str(path), "bomb")
    store_is_clean(store)


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_truncated_layer_fails_cleanly(store, tmp_path, how):
    data = compress(layer_tar([entry("f", data=os.urandom(200000))]), how)
    path = tmp_path / "cut.tar"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PyboxError) as err:
        import_image(store, str(path), "cut")
    assert "\n" not in str(err.value)
    store_is_clean(store)


def test_cli_import_and_images(tmp_path):
    env = dict(os.environ, PYBOX_STORAGE=str(tmp_path / "store"))
    write_rootfs_tar(str(tmp_path / "rootfs.tar"))
    def run(*a, **kw):
        return subprocess.run([PYBOX, *a], capture_output=True, text=True, env=env, **kw)
    assert run("import", str(tmp_path / "rootfs.tar"), "busybox").returncode == 0
    listing = run("images").stdout
    assert "docker.io/library/busybox" in listing and "latest" in listing
    bad = tmp_path / "bad.tar"
    bad.write_bytes(layer_tar([entry("../x", data=b"x")]))
    result = run("import", str(bad), "bad")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "'..'" in result.stderr
    assert run("rmi", "busybox").returncode == 0
    assert run("images", "-q").stdout == ""


def test_config_to_spec_uses_the_image_users(store, tmp_path):
    layout = Layout(tmp_path / "layout")
    config = {"Entrypoint": ["/bin/tool"], "Cmd": ["--x"], "Env": ["PATH=/bin", "A=1"],
              "WorkingDir": "/home/app", "User": "app:wheel", "ExposedPorts": {"80/tcp": {}},
              "Volumes": {"/data": {}}, "StopSignal": "SIGQUIT", "Labels": {"l": "v"}}
    layout.tag(layout.image([BASE], config=config), "latest")
    image = import_image(store, str(tmp_path / "layout"), "cfg")
    rootfs = store.mount_rootfs(image, "c1")
    try:
        spec = to_runtime_spec(image.config, rootfs, {"process": {"env": ["PATH=/usr/bin", "TERM=xterm"]}})
    finally:
        store.unmount_rootfs("c1")
    p = spec["process"]
    assert p["args"] == ["/bin/tool", "--x"] and p["cwd"] == "/home/app"
    assert p["user"] == {"uid": 1000, "gid": 10}
    assert p["env"] == ["PATH=/bin", "TERM=xterm", "A=1", "HOME=/home/app"]
    assert spec["annotations"] == {"l": "v", "org.opencontainers.image.exposedPorts": "80/tcp",
                                   "org.opencontainers.image.volumes": "/data",
                                   "org.opencontainers.image.stopSignal": "SIGQUIT"}
    assert spec["root"]["path"] == rootfs


@pytest.mark.parametrize("kind", ["docker-archive", "oci-archive", "oci-dir", "docker-archive.gz"])
def test_import_archives_and_layouts(store, tmp_path, kind):
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([BASE, TOP]), "v1")
    if kind == "oci-dir":
        source = layout.path
    else:
        source = str(tmp_path / "archive.tar")
        transport = kind.removesuffix(".gz")
        dest = f"{transport}:{source}" + (":example.com/app:v1" if transport == "docker-archive" else ":v1")
        subprocess.run(["skopeo", "copy", "-q", f"oci:{layout.path}:v1", dest], check=True,
                       capture_output=True)
        if kind.endswith(".gz"):  # docker save | gzip
            subprocess.run(["gzip", source], check=True)
            source += ".gz"
    image = import_image(store, source, "imported:v1")
    assert image.names == ["docker.io/library/imported:v1"]
    rootfs = store.mount_rootfs(image, "c1")
    try:
        assert os.listdir(rootfs + "/c") == ["new"] and not os.path.exists(rootfs + "/b")
    finally:
        store.unmount_rootfs("c1")
    if kind == "docker-archive":  # without a NAME, the archive's own tag names the image
        assert "example.com/app:v1" in import_image(store, source).names


def test_sparse_file_bomb_stops(store, tmp_path):
    import tarfile
    path = tmp_path / "sparse.tar"
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(1 << 40)  # a 1 TiB hole: a few bytes in a GNU sparse tar
    subprocess.run(["tar", "--sparse", "-C", str(tmp_path), "-cf", str(path), "big"], check=True)
    big.unlink()
    assert tarfile.open(path).getmember("big").size == 1 << 40 and path.stat().st_size < 1 << 20
    with pytest.raises(PyboxError, match="decompression bomb"):
        import_image(store, str(path), "sparse")
    store_is_clean(store)


def test_many_layers_on_kernels_without_lowerdir_plus(store, tmp_path):
    from pybox.images.overlay import mount_with_links, unmount
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([[entry(f"f{i:03d}", data=b"x")] for i in range(150)], compression=None),
               "latest")
    image = import_image(store, str(tmp_path / "layout"), "many")
    base = tmp_path / "ctr"
    for sub in ("upper", "work", "rootfs"):
        (base / sub).mkdir(parents=True)
    mount_with_links(image.layer_dirs(), str(base / "upper"), str(base / "work"), str(base / "rootfs"))
    try:
        assert len(os.listdir(base / "rootfs")) == 150
    finally:
        unmount(str(base / "rootfs"))


@pytest.mark.parametrize("manifest", ['{"x": 1}', '[{"Config": 3}]', "[]", "not json"])
def test_malformed_docker_archive_is_one_line(store, tmp_path, manifest):
    import io
    import tarfile
    path = tmp_path / "bad-save.tar"
    with tarfile.open(path, "w") as tar:
        data = manifest.encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(PyboxError) as err:
        import_image(store, str(path), "bad")
    assert "\n" not in str(err.value)
    store_is_clean(store)


def test_unmount_detaches_stacked_mounts_and_passes_over_the_rest(tmp_path):
    from pybox.images.overlay import unmount
    target = tmp_path / "m"
    target.mkdir()
    for size in ("1m", "2m"):
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "none", str(target)], check=True, timeout=10)
    try:
        unmount(str(target))
        assert not os.path.ismount(target)
        unmount(str(target))  # no mount point: nothing to do
        unmount(str(tmp_path / "nosuch"))
    finally:
        subprocess.run(["umount", "-R", str(target)], capture_output=True, timeout=10)
