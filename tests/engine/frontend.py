"""Helpers for the front-end integration tests: a private image store with busybox and a runner."""

import os
import subprocess

import pytest

from integration.conftest import PYBOX, Runtime


def import_busybox(storage):
    from pybox.images.busybox import import_busybox as do_import
    from pybox.images.store import Store
    do_import(Store(str(storage)))
    return str(storage)


class Docker(Runtime):
    """Runs `pybox` with a private --root and image store; containers go below pybox-test cgroups."""

    binary = PYBOX

    def __init__(self, root, storage):
        super().__init__(root)
        self.storage = storage
        self.env = dict(os.environ, PYBOX_STORAGE=storage, PYBOX_CGROUP_PARENT="pybox-test")

    def argv(self, *args):
        return [PYBOX, "--root", self.root, *args]

    def __call__(self, *args, **kw):
        kw.setdefault("env", self.env)
        if kw.get("input") is None:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return super().__call__(*args, **kw)

    def out(self, *args, **kw):
        return self(*args, **kw).stdout

    def remove_all(self):
        ids = self.out("ps", "-a", "-q", "--no-trunc").split()
        if ids:
            self("rm", "-f", *ids, check=False)

    def mounts_left(self):
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if self.storage in line.split()[4]]


@pytest.fixture(scope="session")
def storage(tmp_path_factory):
    return import_busybox(tmp_path_factory.mktemp("store"))


@pytest.fixture
def docker(tmp_path, storage):
    d = Docker(tmp_path / "state", storage)
    yield d
    d.remove_all()
    assert not d.out("ps", "-a", "-q"), "containers left behind"
    assert not d.mounts_left()


def tar_of_dir(path):
    """An uncompressed layer tar of a directory's contents (owners, modes, links as they are)."""
    import io
    import tarfile
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(path)):
            tar.add(os.path.join(path, name), arcname=name)
    return out.getvalue()


def busybox_layer(tmp_path):
    """The tests' busybox rootfs as one layer, the base of images a test builds."""
    from integration.busybox import build_rootfs
    return tar_of_dir(build_rootfs(str(tmp_path / "busybox-rootfs")))


def import_image(docker, tmp_path, name, tars, config):
    """An OCI image of these layer tars and image config, imported into docker's store as name."""
    import json
    from tests.images.layouts import OCI_MANIFEST, Layout, digest
    layout = Layout(tmp_path / f"layout-{name}")
    cfg = {"architecture": "amd64", "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]}}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **layout.blob(json.dumps(cfg).encode())},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layout.blob(t)}
                           for t in tars]}
    layout.tag({"mediaType": OCI_MANIFEST, **layout.blob(json.dumps(manifest).encode())}, "latest")
    docker("import", layout.path, name)
