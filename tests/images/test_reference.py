import pytest

from pybox.errors import PyboxError
from pybox.images.reference import parse


@pytest.mark.parametrize("text,normal", [
    ("alpine", "docker.io/library/alpine:latest"),
    ("alpine:3.19", "docker.io/library/alpine:3.19"),
    ("user/app", "docker.io/user/app:latest"),
    ("index.docker.io/library/x", "docker.io/library/x:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
    ("quay.io/x/y:1.0", "quay.io/x/y:1.0"),
    ("127.0.0.1:5000/x@sha256:" + "a" * 64, "127.0.0.1:5000/x@sha256:" + "a" * 64),
    ("x:t@sha256:" + "b" * 64, "docker.io/library/x:t@sha256:" + "b" * 64),
])
def test_normalised_like_docker(text, normal):
    assert str(parse(text)) == normal


def test_docker_hub_api_host():
    assert parse("alpine").api_host == "registry-1.docker.io"
    assert parse("localhost:5000/a").api_host == "localhost:5000"


@pytest.mark.parametrize("bad", ["Alpine", "a:b:c", "x@sha256:12", "", "a//b", "a:-x", " a"])
def test_bad_references_name_themselves(bad):
    with pytest.raises(PyboxError, match="invalid"):
        parse(bad)


from hypothesis import given, strategies as st  # noqa: E402

_component = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)?", fullmatch=True)
_refs = st.builds(
    lambda host, path, tag: (host + "/" if host else "") + "/".join(path) + (":" + tag if tag else ""),
    st.sampled_from(["", "localhost", "localhost:5000", "quay.io", "10.0.0.1:443"]),
    st.lists(_component, min_size=1, max_size=3),
    st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)))


@given(_refs)
def test_normalising_is_idempotent(text):
    once = str(parse(text))
    assert str(parse(once)) == once
    assert ":" in once.rsplit("/", 1)[1]  # always a tag (latest by default)
