import base64
import json

import pytest

from pybox.errors import PyboxError
from pybox.images.auth import credentials_for, parse_challenge
from pybox.images.settings import Settings


def test_bearer_challenge():
    scheme, params = parse_challenge('Bearer realm="https://auth.docker.io/token",'
                                     'service="registry.docker.io",scope="repository:library/alpine:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/alpine:pull"}
    assert parse_challenge('Basic realm="r"') == ("basic", {"realm": "r"})


def write_auth(path, key, user, password):
    path.write_text(json.dumps({"auths": {key: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}))


def test_credentials_from_podman_then_docker_files(tmp_path, monkeypatch):
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "run" / "containers").mkdir(parents=True)
    (tmp_path / "docker").mkdir()
    write_auth(tmp_path / "docker" / "config.json", "https://index.docker.io/v1/", "hub", "pw1")
    write_auth(tmp_path / "run" / "containers" / "auth.json", "quay.io", "q", "pw2")
    assert credentials_for("docker.io") == ("hub", "pw1")
    assert credentials_for("quay.io") == ("q", "pw2")
    assert credentials_for("example.com") is None


def test_loopback_registries_are_insecure_like_docker():
    s = Settings({"registries": {"10.0.0.5:5000": {"insecure": True},
                                 "localhost:5000": {"insecure": False}}})
    assert s.insecure("127.0.0.1:5000") and s.insecure("10.0.0.5:5000")
    assert s.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert s.base_url("10.0.0.5:5000") == "https://10.0.0.5:5000"
    assert not s.insecure("localhost:5000") and not s.insecure("quay.io")
    assert s.base_url("quay.io") == "https://quay.io"
    assert s.base_url("http://mirror:5000/") == "http://mirror:5000"


def test_mirrors_and_bad_values():
    s = Settings({"registries": {"docker.io": {"mirrors": ["mirror.local"]}}})
    assert s.mirrors("docker.io") == ["mirror.local"] and s.mirrors("quay.io") == []
    with pytest.raises(PyboxError, match="retries must be a number"):
        Settings({"retries": "many"}, "f.yaml")
    with pytest.raises(PyboxError, match="mirrors: expected a list"):
        Settings({"registries": {"docker.io": {"mirrors": "x"}}}).mirrors("docker.io")
