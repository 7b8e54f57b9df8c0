"""Pulling from a real docker-registry, compared file by file with skopeo + umoci."""

import os
import subprocess

import pytest

from integration.conftest import PYBOX
from integration.registry import (PASSWORD, USER, auth_file, differences, fault_proxy,  # noqa: F401
                                  schema1_registry, tls_registry,
                                  htpasswd_registry, registry, skopeo_push, token_registry,
                                  umoci_rootfs)
from pybox.errors import PyboxError
from pybox.images.busybox import import_busybox
from pybox.images.store import Store
from tests.images.layouts import BASE, TOP, Layout, entry


@pytest.fixture(scope="session")
def images(registry, tmp_path_factory):
    """Test images pushed once per session; name → reference."""
    layout = Layout(tmp_path_factory.mktemp("layouts") / "oci")
    layout.tag(layout.image([BASE]), "single")
    layout.tag(layout.image([BASE, TOP]), "multi")
    layout.tag(layout.image([BASE, TOP], compression="zstd"), "zstd")
    layout.tag(layout.image([BASE, TOP]), "docker")  # skopeo converts it
    arches = [layout.image([BASE, [entry("arch", data=arch.encode())]], arch=arch, variant=variant)
              for arch, variant in (("amd64", None), ("arm64", "v8"), ("arm", "v7"))]
    layout.multi_arch(arches, "multiarch")
    refs = {}
    for name, tag, fmt in (("single", "single", None), ("multi", "multi", "oci"),
                           ("zstd", "zstd", None), ("docker", "docker", "v2s2"),
                           ("multiarch", "multiarch", None), ("docker-list", "multiarch", "v2s2")):
        ref = f"{registry.host}/test/{name}:latest"
        skopeo_push(layout.path, tag, ref, fmt=fmt, all_images=tag == "multiarch")
        refs[name] = ref
    return refs


@pytest.fixture
def store(tmp_path, monkeypatch):
    conf = tmp_path / "registries.yaml"
    conf.write_text("backoff: 0.01\nretries: 4\n")
    monkeypatch.setenv("PYBOX_REGISTRIES_CONF", str(conf))
    return Store(str(tmp_path / "store"))


def compare_with_umoci(store, image, ref, tmp_path, creds=None):
    theirs = umoci_rootfs(ref, tmp_path, creds)
    assert "bin" in os.listdir(theirs)
    ours = store.mount_rootfs(image, "cmp")
    try:
        return differences(ours, theirs)
    finally:
        store.unmount_rootfs("cmp")


@pytest.mark.parametrize("name", ["single", "multi", "docker", "zstd"])
def test_pulled_rootfs_matches_umoci(store, images, tmp_path, name):
    image = store.pull(images[name])
    assert image.names == [images[name]]
    expected_type = "application/vnd.docker.distribution.manifest.v2+json" if name == "docker" \
        else "application/vnd.oci.image.manifest.v1+json"
    assert image.manifest["mediaType"] == expected_type
    reference = images[name]
    if name == "zstd" and subprocess.run(["umoci", "--version"], capture_output=True,
                                         text=True).stdout.split()[2] < "0.4.8":
        # umoci 0.4.7 cannot read zstd layers: umoci unpacks the gzip twin (same diff ids).
        reference = images["multi"]
        assert store.pull(reference).record["diff_ids"] == image.record["diff_ids"]
    assert compare_with_umoci(store, image, reference, tmp_path) == []


@pytest.mark.parametrize("name", ["multiarch", "docker-list"])
def test_multiarch_picks_the_platform(store, images, name, tmp_path):
    default = store.pull(images[name])
    assert compare_with_umoci(store, default, images[name], tmp_path) == []
    arm = store.pull(images[name], platform="linux/arm/v7")
    def read(image):
        return open(os.path.join(image.layer_dirs()[-1], "arch")).read()
    assert read(default) == "amd64" and read(arm) == "arm"
    with pytest.raises(PyboxError, match="no image for linux/s390x"):
        store.pull(images[name], platform="linux/s390x")


def test_second_pull_downloads_nothing(store, images, fault_proxy):
    ref = images["multi"].replace(fault_proxy.upstream, fault_proxy.host)
    store.pull(ref)
    fault_proxy.seen.clear()
    store.pull(ref)
    assert not [p for p in fault_proxy.seen if "/blobs/" in p]


def test_retries_429_500_and_cut_connections(store, images, fault_proxy, tmp_path):
    fault_proxy.faults = [("/manifests/", 429), ("/blobs/", 500), ("/blobs/", "cut"),
                          ("/blobs/", 503), ("/blobs/", "cut")]
    image = store.pull(images["multi"].replace(fault_proxy.upstream, fault_proxy.host))
    assert fault_proxy.faults == []
    assert compare_with_umoci(store, image, images["multi"], tmp_path) == []


def test_persistent_failure_is_one_line_and_leaves_nothing(store, images, fault_proxy):
    fault_proxy.faults = [("/blobs/", 500)] * 50
    with pytest.raises(PyboxError) as err:
        store.pull(images["multi"].replace(fault_proxy.upstream, fault_proxy.host))
    assert "HTTP 500" in str(err.value) and "\n" not in str(err.value)
    assert store.images() == [] and os.listdir(store.path("layers")) == []
    assert os.listdir(store.path("tmp")) == []


def test_concurrent_pulls_download_once(store, images, fault_proxy, tmp_path):
    ref = images["multi"].replace(fault_proxy.upstream, fault_proxy.host)
    env = dict(os.environ, PYBOX_STORAGE=store.root)
    procs = [subprocess.Popen([PYBOX, "pull", ref], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len({out for out, _ in outs}) == 1
    blob_gets = [p for p in fault_proxy.seen if "/blobs/" in p]
    assert len(blob_gets) == len(set(blob_gets)) == 3  # config + 2 layers, once each
    assert len(store.images()) == 1


def test_htpasswd_registry(store, htpasswd_registry, auth_file, tmp_path):
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE]), "v1")
    ref = f"{htpasswd_registry.host}/private/img:v1"
    skopeo_push(layout.path, "v1", ref, creds=f"{USER}:{PASSWORD}")
    with pytest.raises(PyboxError, match="credentials"):
        store.pull(ref)
    auth_file(htpasswd_registry.host)
    assert store.pull(ref).names == [ref]


def test_token_registry(store, token_registry, auth_file, tmp_path):
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE, TOP]), "v1")
    ref = f"{token_registry.host}/private/img:v1"
    skopeo_push(layout.path, "v1", ref, creds=f"{USER}:{PASSWORD}")
    with pytest.raises(PyboxError, match="401"):
        store.pull(ref)
    auth_file(token_registry.host)
    image = store.pull(ref)
    assert compare_with_umoci(store, image, ref, tmp_path, f"{USER}:{PASSWORD}") == []
    query, authorized = token_registry.issuer.requests[-1]
    assert authorized and query["scope"] == ["repository:private/img:pull"]


def test_push_then_pull_elsewhere(store, registry, tmp_path):
    import_busybox(store)
    ref = f"{registry.host}/pushed/busybox:1"
    env = dict(os.environ, PYBOX_STORAGE=store.root)
    result = subprocess.run([PYBOX, "push", "busybox", ref], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    other = Store(str(tmp_path / "other"))
    image = other.pull(ref)
    rootfs = other.mount_rootfs(image, "c1")
    try:
        assert os.readlink(os.path.join(rootfs, "bin/sh")) == "/bin/busybox"
    finally:
        other.unmount_rootfs("c1")


def test_cli_pull_errors_are_one_line(store, registry):
    env = dict(os.environ, PYBOX_STORAGE=store.root)
    for ref, expect in ((f"{registry.host}/test/nope:latest", "MANIFEST_UNKNOWN"),
                        ("Bad_Ref", "invalid image reference")):
        result = subprocess.run([PYBOX, "pull", ref], env=env, capture_output=True, text=True)
        assert result.returncode == 1 and result.stderr.count("\n") == 1
        assert expect in result.stderr and "Traceback" not in result.stderr


def test_follows_redirects(store, images, fault_proxy):
    fault_proxy.faults = [("/blobs/", "redirect")] * 3
    image = store.pull(images["multi"].replace(fault_proxy.upstream, fault_proxy.host))
    assert fault_proxy.faults == [] and len(image.layer_dirs()) == 2


def test_mirror_first_then_the_registry(store, images, registry, fault_proxy, tmp_path, monkeypatch):
    conf = tmp_path / "mirrors.yaml"
    conf.write_text(f"backoff: 0.01\nretries: 2\nregistries:\n  '{registry.host}':\n"
                    f"    mirrors: ['127.0.0.1:1', '{fault_proxy.host}']\n")
    monkeypatch.setenv("PYBOX_REGISTRIES_CONF", str(conf))
    image = store.pull(images["single"])
    assert image.names == [images["single"]]
    assert any("/manifests/" in p for p in fault_proxy.seen)  # served by the mirror


def test_bad_settings_file_is_one_line(store, images, tmp_path, monkeypatch):
    conf = tmp_path / "bad.yaml"
    conf.write_text("registries: [oops\n")
    monkeypatch.setenv("PYBOX_REGISTRIES_CONF", str(conf))
    with pytest.raises(PyboxError, match="bad.yaml: invalid YAML"):
        store.pull(images["single"])


def test_token_registry_anonymous_pull(store, token_registry, tmp_path, monkeypatch):
    """Docker Hub's flow for public images: a token without credentials, for pull only."""
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE]), "pub")
    ref = f"{token_registry.host}/public/img:pub"
    skopeo_push(layout.path, "pub", ref, creds=f"{USER}:{PASSWORD}")
    monkeypatch.setattr(token_registry.issuer, "anonymous_pull", True)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
    assert store.pull(ref).names == [ref]
    query, authorized = token_registry.issuer.requests[-1]
    assert not authorized and query["service"] == [token_registry.issuer.service]


def test_tls_registry_with_a_self_signed_certificate(store, tls_registry, tmp_path, monkeypatch):
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE]), "v1")
    host = tls_registry.host.replace("127.0.0.1", "localhost")  # not loopback-insecure by IP
    ref = f"{host}/tls/img:v1"
    skopeo_push(layout.path, "v1", ref)
    conf = tmp_path / "strict.yaml"
    conf.write_text(f"retries: 1\nregistries:\n  '{host}':\n    insecure: false\n")
    monkeypatch.setenv("PYBOX_REGISTRIES_CONF", str(conf))
    with pytest.raises(PyboxError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        store.pull(ref)
    assert store.pull(ref, tls_verify=False).names == [ref]


def test_push_to_token_registry(store, token_registry, auth_file, tmp_path):
    from pybox.images.push import push
    import_busybox(store)
    ref = f"{token_registry.host}/pushed/busybox:2"
    with pytest.raises(PyboxError, match="401"):
        push(store, "busybox", ref)
    auth_file(token_registry.host)
    assert push(store, "busybox", ref) == ref
    query, authorized = token_registry.issuer.requests[-1]
    assert authorized and query["scope"] == ["repository:pushed/busybox:pull,push"]
    assert Store(str(tmp_path / "other")).pull(ref).id == store.get("busybox").id


def test_schema1_is_refused_with_a_clear_message(store, schema1_registry, tmp_path):
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE]), "old")
    ref = f"{schema1_registry.host}/old/img:1"
    skopeo_push(layout.path, "old", ref, fmt="v2s1")
    with pytest.raises(PyboxError, match="schema 1 manifests are not supported"):
        store.pull(ref)
    assert store.images() == []


def test_images_share_layers_and_rmi_keeps_shared_ones(store, images, fault_proxy):
    def via_proxy(name):
        return images[name].replace(fault_proxy.upstream, fault_proxy.host)
    single = store.pull(via_proxy("single"))
    fault_proxy.seen.clear()
    multi = store.pull(via_proxy("multi"))
    assert multi.layer_dirs()[0] == single.layer_dirs()[0]
    assert len([p for p in fault_proxy.seen if "/blobs/" in p]) == 2  # config + the top layer
    assert len(os.listdir(store.path("layers"))) == 2
    store.remove(via_proxy("single"))
    assert os.path.isdir(multi.layer_dirs()[0]) and os.path.isdir(multi.layer_dirs()[1])
    store.remove(via_proxy("multi"))
    assert os.listdir(store.path("layers")) == [] and os.listdir(store.path("blobs", "sha256")) == []


def test_hostile_layer_from_a_registry_fails_cleanly(store, registry, tmp_path):
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE, [entry("etc", "symlink", link="/etc"),
                                    entry("etc/evil", data=b"x")]]), "evil")
    ref = f"{registry.host}/hostile/img:1"
    skopeo_push(layout.path, "evil", ref)
    with pytest.raises(PyboxError, match="parent directory is a symlink") as err:
        store.pull(ref)
    assert "\n" not in str(err.value) and not os.path.exists("/etc/evil")
    assert store.images() == [] and os.listdir(store.path("tmp")) == []


def test_resume_when_the_server_ignores_range(store, images, fault_proxy, tmp_path):
    fault_proxy.faults = [("/blobs/", "cut"), ("/blobs/", "norange"), ("/blobs/", "cut"),
                          ("/blobs/", "norange"), ("/blobs/", "cut"), ("/blobs/", "norange")]
    image = store.pull(images["multi"].replace(fault_proxy.upstream, fault_proxy.host))
    assert fault_proxy.faults == []
    assert compare_with_umoci(store, image, images["multi"], tmp_path) == []


def test_loopback_tls_registry_needs_no_settings(store, tls_registry, tmp_path):
    """Loopback registries are insecure as in docker: HTTP first, then TLS without checks."""
    layout = Layout(tmp_path / "oci")
    layout.tag(layout.image([BASE]), "v1")
    ref = f"{tls_registry.host}/tls/loop:v1"
    skopeo_push(layout.path, "v1", ref)
    assert store.pull(ref).names == [ref]


def test_prune_during_pulls_removes_nothing_they_need(store, images, tmp_path):
    env = dict(os.environ, PYBOX_STORAGE=store.root)
    pulls = [subprocess.Popen([PYBOX, "pull", "-q", images[name]], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("multi", "zstd")]
    for _ in range(5):
        subprocess.run([PYBOX, "image", "prune"], env=env, check=True, capture_output=True)
    assert [p.wait(120) for p in pulls] == [0, 0], [p.stderr.read() for p in pulls]
    image = store.get(images["multi"])
    assert compare_with_umoci(store, image, images["multi"], tmp_path) == []
    assert all(store.has_blob(d) for d in image.record["blobs"])


def test_push_retries_through_faults(store, registry, fault_proxy, tmp_path):
    from pybox.images.push import push
    import_busybox(store)
    fault_proxy.faults = [("/blobs/uploads/", 503), ("/blobs/uploads/", 500), ("/manifests/", 429)]
    ref = f"{fault_proxy.host}/pushed/faulty:1"
    assert push(store, "busybox", ref) == ref
    assert fault_proxy.faults == []
    assert Store(str(tmp_path / "other")).pull(ref).id == store.get("busybox").id


def pull_cli(store, ref, conf, timeout=30):
    import time
    env = dict(os.environ, PYBOX_STORAGE=store.root, PYBOX_REGISTRIES_CONF=str(conf))
    start = time.monotonic()
    result = subprocess.run([PYBOX, "pull", ref], env=env, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    return result, time.monotonic() - start


def test_refused_and_unknown_hosts_fail_at_once(store, tmp_path):
    """With the default 5 attempts and 0.5 s backoff these took 7.5 s of silent retries: nothing
    listening and no such host are not going to change in a few seconds."""
    from integration.registry import free_port
    conf = tmp_path / "default.yaml"
    conf.write_text("{}\n")
    for ref, words in ((f"localhost:{free_port()}/x/y:1", "refused the connection"),
                       (f"127.0.0.1:{free_port()}/x/y:1", "refused the connection"),
                       ("nosuch.invalid/x/y:1", "cannot resolve nosuch.invalid")):
        result, took = pull_cli(store, ref, conf)
        assert result.returncode == 1 and words in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert took < 3, f"{ref}: {took:.1f} s"


def test_tls_pull_from_a_plain_http_registry_says_so(store, images, tmp_path):
    """docker-registry without TLS, asked for TLS (insecure: false): one line that names the cause
    and the fix, not urllib3's chain of wrapped SSL errors, and no retries."""
    host = images["single"].split("/")[0].replace("127.0.0.1", "localhost")
    conf = tmp_path / "strict.yaml"
    conf.write_text(f"registries:\n  '{host}':\n    insecure: false\n")
    result, took = pull_cli(store, images["single"].replace("127.0.0.1", "localhost"), conf)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"{host} answered TLS with plain HTTP" in result.stderr and "--tls-verify=false" in result.stderr
    assert "Max retries" not in result.stderr and "SSLError" not in result.stderr
    assert took < 3
