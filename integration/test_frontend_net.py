"""Bridge networking of `pybox run`, inside a network namespace that plays the host."""

import json
import subprocess

import pytest

from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)
from tests.netns.fakehost import WAN_HOST, WAN_PEER, FakeHost, fetch, sh


@pytest.fixture
def host(tmp_path, docker):
    with FakeHost(tmp_path) as fake:
        yield fake
        docker.remove_all()  # while still inside: the veths and rules go with their containers
        assert "pb" not in sh("ip", "-o", "link", "show", "master", "pybox0", check=False).stdout
    assert not fake.left_behind()


def address_of(docker, name):
    return json.loads(docker.out("inspect", name))[0]["NetworkSettings"]["IPAddress"]


def test_container_reaches_the_internet_through_nat(host, docker):
    inet = host.internet()
    host.serve(inet, 8000, "from the internet")
    out = docker.out("run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{WAN_PEER}:8000/")
    assert out == "from the internet"


def test_published_port_from_outside_and_localhost(host, docker, tmp_path):
    inet = host.internet()
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from a container")
    docker("run", "-d", "--name", "web", "-p", "8080:80", "-v", f"{www}:/www:ro", "busybox",
           "httpd", "-f", "-p", "80", "-h", "/www")
    assert "0.0.0.0:8080->80/tcp" in docker.out("ps")
    import time
    deadline = time.monotonic() + 5
    while fetch(None, "http://127.0.0.1:8080/", timeout=1) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fetch(None, "http://127.0.0.1:8080/") == "hello from a container"
    assert fetch(inet, f"http://{WAN_HOST}:8080/") == "hello from a container"
    docker("rm", "-f", "web")
    assert fetch(inet, f"http://{WAN_HOST}:8080/", timeout=1) is None
    assert "8080" not in sh("nft", "list", "ruleset").stdout


def test_two_containers_reach_each_other_and_know_their_names(host, docker):
    docker("run", "-d", "--name", "a", "--hostname", "alpha", "busybox", "httpd", "-f", "-p", "80",
           "-h", "/etc")
    address = address_of(docker, "a")
    assert address.startswith("10.88.")
    hosts = docker.out("exec", "a", "cat", "/etc/hosts")
    assert f"{address}\talpha" in hosts
    out = docker.out("run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{address}/hostname")
    assert out == "alpha\n"


def test_concurrent_runs_get_distinct_addresses_all_released(host, docker):
    count = 12
    procs = [subprocess.Popen(docker.argv("run", "-d", "--name", f"c{i}", "busybox", "sleep", "60"),
                              env=docker.env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
             for i in range(count)]
    assert [p.wait(120) for p in procs] == [0] * count
    addresses = {address_of(docker, f"c{i}") for i in range(count)}
    assert len(addresses) == count
    assert sh("ip", "-o", "link", "show", "master", "pybox0").stdout.count("\n") == count
    docker("rm", "-f", *[f"c{i}" for i in range(count)])
    assert sh("ip", "-o", "link", "show", "master", "pybox0").stdout.count("\n") == 0


def test_a_stopped_container_gives_back_its_address(host, docker):
    docker("run", "-d", "--name", "short", "busybox", "sleep", "60")
    assert address_of(docker, "short")
    docker("stop", "-t", "0", "short")
    assert address_of(docker, "short") == ""
    assert sh("ip", "-o", "link", "show", "master", "pybox0").stdout.count("\n") == 0
    docker("start", "short")
    assert address_of(docker, "short").startswith("10.88.")
