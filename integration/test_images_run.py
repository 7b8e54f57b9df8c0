"""A container from an image: the store's overlay rootfs and the image config, run by pybox."""

import json

import pytest

from integration import conftest
from pybox.images.busybox import import_busybox
from pybox.images.config import to_runtime_spec
from pybox.images.store import Store
from pybox.runtime.defaults import default_spec


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "store"))


def bundle_for(store, image, cid, tmp_path, **overrides):
    rootfs = store.mount_rootfs(image, cid)
    spec = to_runtime_spec(image.config, rootfs, default_spec())
    spec["process"]["terminal"] = False
    spec["root"]["readonly"] = False
    spec["linux"]["cgroupsPath"] = conftest.test_cgroup_path()
    spec["process"].update(overrides)
    path = tmp_path / f"bundle-{cid}"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(spec))
    return str(path)


def test_busybox_image_runs_and_writes_stay_private(store, pybox, tmp_path):
    image = import_busybox(store)
    try:
        first = bundle_for(store, image, "one", tmp_path,
                           args=["/bin/sh", "-c", "echo mine > /root/file; cat /root/file"])
        second = bundle_for(store, image, "two", tmp_path,
                            args=["/bin/sh", "-c", "cat /root/file || echo none"])
        assert pybox("run", "-b", first, "one").stdout == "mine\n"
        assert pybox("run", "-b", second, "two").stdout == "none\n"
        assert set(store.containers()) == {"one", "two"}
    finally:
        store.unmount_rootfs("one")
        store.unmount_rootfs("two")
    assert store.containers() == {}



def test_image_user_reads_and_writes_through_the_overlay(store, tmp_path):
    """The store is root-only (0700); the container's user still works inside the overlay."""
    import subprocess
    image = import_busybox(store)
    rootfs = store.mount_rootfs(image, "app")
    try:
        out = subprocess.run(
            ["chroot", "--userspec=1000:1000", rootfs, "/bin/sh", "-c",
             "id -u; wc -l < /etc/group; touch /home/app/ok && echo wrote; touch /etc/x || echo denied"],
            capture_output=True, text=True, timeout=30).stdout.split()
        assert out == ["1000", "5", "wrote", "denied"]
    finally:
        store.unmount_rootfs("app")
