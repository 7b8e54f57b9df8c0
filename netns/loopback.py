"""Bring the loopback interface up with one ioctl: `--network none` needs no netlink.

Every container with a network namespace of its own runs this in its init, so it imports only
what the init already has (no `struct`, no `socket`: its enum set-up costs 4 ms).
"""

import _socket
import fcntl
import sys

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ_SIZE = 40  # struct ifreq: a 16-byte name, then a 24-byte union whose first field is ifr_flags


def loopback_up(netns=None):
    """Set `lo` up in the network namespace at path or pid `netns` (default: this thread's)."""
    if netns is None:
        _set_up(b"lo")
        return
    from pybox.netns.enter import entered
    with entered(netns):
        _set_up(b"lo")


def _ifreq(name, flags):
    return name.ljust(16, b"\0") + flags.to_bytes(2, sys.byteorder) + bytes(_IFREQ_SIZE - 18)


def _set_up(name):
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        reply = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, _ifreq(name, 0))
        flags = int.from_bytes(reply[16:18], sys.byteorder)
        if not flags & IFF_UP:
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, _ifreq(name, flags | IFF_UP))
    finally:
        sock.close()
