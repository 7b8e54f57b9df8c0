"""Published ports: ("0.0.0.0" or a host IPv4, host port, container port, "tcp" or "udp")."""

import ipaddress

from pybox.errors import PyboxError

PROTOCOLS = ("tcp", "udp")


def parse_publish(text):
    """Docker's -p syntax: [IP:]HOST:CONTAINER[/tcp|udp] -> a port tuple."""
    spec, _, proto = text.partition("/")
    parts = spec.rsplit(":", 2)
    if len(parts) == 2:
        parts.insert(0, "0.0.0.0")
    if len(parts) != 3:
        raise PyboxError(f"publish {text!r}: expected [IP:]HOST_PORT:CONTAINER_PORT[/PROTO]")
    host_ip, host_port, container_port = parts
    return normalize_port((host_ip or "0.0.0.0", host_port, container_port, proto or "tcp"), text)


def normalize_port(port, shown=None):
    shown = shown if shown is not None else port
    try:
        host_ip, host_port, container_port, proto = port
    except (TypeError, ValueError):
        raise PyboxError(f"publish {shown!r}: expected (host_ip, host_port, container_port, proto)") from None
    return (_ip(host_ip, shown), _port(host_port, shown), _port(container_port, shown),
            _proto(proto, shown))


def _ip(value, shown):
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise PyboxError(f"publish {shown!r}: {value!r} is not an IPv4 address") from None


def _port(value, shown):
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 65535:
        raise PyboxError(f"publish {shown!r}: port {value!r} is not a number from 1 to 65535")
    return number


def _proto(value, shown):
    if value not in PROTOCOLS:
        raise PyboxError(f"publish {shown!r}: protocol {value!r} is not tcp or udp")
    return value
