import pytest

from pybox.errors import PyboxError
from pybox.images import manifests


def index(*platforms):
    return {"manifests": [{"digest": f"sha256:{i}", "platform": p} for i, p in enumerate(platforms)]}


AMD64 = {"os": "linux", "architecture": "amd64"}
ARM7 = {"os": "linux", "architecture": "arm", "variant": "v7"}
ARM6 = {"os": "linux", "architecture": "arm", "variant": "v6"}


def test_platform_choice_by_os_arch_variant():
    idx = index(ARM6, AMD64, ARM7)
    assert manifests.pick_from_index(idx, manifests.parse_platform("linux/amd64"), "t")["digest"] == "sha256:1"
    assert manifests.pick_from_index(idx, manifests.parse_platform("linux/arm/v7"), "t")["digest"] == "sha256:2"


def test_missing_platform_lists_what_there_is():
    with pytest.raises(PyboxError, match="no image for linux/s390x.*linux/amd64"):
        manifests.pick_from_index(index(AMD64), manifests.parse_platform("linux/s390x"), "t")


def test_schema1_is_refused_clearly():
    with pytest.raises(PyboxError, match="schema 1"):
        manifests.check_manifest({"schemaVersion": 1, "fsLayers": []}, "pull x")


@pytest.mark.parametrize("bad", ["linux", "linux/", "a/b/c/d"])
def test_bad_platform(bad):
    with pytest.raises(PyboxError, match="invalid platform"):
        manifests.parse_platform(bad)


@pytest.mark.parametrize("layers", [[1], [{"size": 3}], [{"digest": "sha256:xyz"}]])
def test_bad_descriptors_are_refused(layers):
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_MANIFEST,
           "config": {"digest": "sha256:" + "a" * 64}, "layers": layers}
    with pytest.raises(PyboxError, match="descriptor 1"):
        manifests.check_manifest(doc, "pull x")
