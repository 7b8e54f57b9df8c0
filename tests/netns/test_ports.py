import pytest

from pybox.errors import PyboxError
from pybox.netns.ipam import ports_clash
from pybox.netns.ports import normalize_port, parse_publish


@pytest.mark.parametrize("text, port", [
    ("8080:80", ("0.0.0.0", 8080, 80, "tcp")),
    ("8080:80/udp", ("0.0.0.0", 8080, 80, "udp")),
    ("127.0.0.1:8080:80", ("127.0.0.1", 8080, 80, "tcp")),
    (":53:53/udp", ("0.0.0.0", 53, 53, "udp")),
])
def test_docker_publish_syntax(text, port):
    assert parse_publish(text) == port


@pytest.mark.parametrize("text, complaint", [
    ("80", "expected"),
    ("0:80", "port '0'"),
    ("8080:70000", "port '70000'"),
    ("web:8080:80", "'web' is not an IPv4 address"),
    ("8080:80/sctp", "protocol 'sctp'"),
    ("a:b", "port 'a'"),
])
def test_bad_publish_names_the_bad_part(text, complaint):
    with pytest.raises(PyboxError, match=complaint):
        parse_publish(text)


def test_tuples_are_checked_too():
    assert normalize_port(("0.0.0.0", "8080", 80, "tcp")) == ("0.0.0.0", 8080, 80, "tcp")
    with pytest.raises(PyboxError, match="expected"):
        normalize_port((8080, 80))


def test_clash_needs_same_port_protocol_and_overlapping_address():
    any_ip = ("0.0.0.0", 80, 80, "tcp")
    assert ports_clash(any_ip, ("127.0.0.1", 80, 8000, "tcp"))
    assert not ports_clash(any_ip, ("0.0.0.0", 80, 80, "udp"))
    assert not ports_clash(any_ip, ("0.0.0.0", 81, 80, "tcp"))
    assert not ports_clash(("127.0.0.1", 80, 80, "tcp"), ("10.0.0.1", 80, 80, "tcp"))
