"""Links, addresses and routes of a bridge network, through rtnetlink (see rtnl.py)."""

import errno
import ipaddress
import os
import socket

from pybox.netns.enter import entered
from pybox.netns.ipam import mac_for
from pybox.netns.rtnl import Rtnl

CONTAINER_IFNAME = "eth0"


def open_route():
    """A netlink socket in this thread's network namespace."""
    return Rtnl()


def ensure_bridge(rtnl, name, gateway, prefix):
    if _index(name) is None:
        # A MAC set explicitly stays; otherwise the bridge takes the lowest of its ports' MACs,
        # changing as containers come and go, and the gateway in their ARP caches goes stale.
        mac = mac_for(ipaddress.IPv4Address(gateway))
        _ignore(errno.EEXIST, rtnl.add_bridge, name, mac)  # a racing attach may have made it
    index = _index(name)
    _ignore(errno.EEXIST, rtnl.add_address, index, gateway, prefix)
    rtnl.set_link(index, up=True)
    return index


def plug(rtnl, lease, bridge_index):
    """Create the veth pair with its container end born inside the container's namespace."""
    fd = os.open(lease.netns["path"], os.O_RDONLY | os.O_CLOEXEC)
    try:
        rtnl.add_veth(lease.veth, CONTAINER_IFNAME, fd, lease.mac)
    finally:
        os.close(fd)
    index = socket.if_nametoindex(lease.veth)
    rtnl.set_link(index, master=bridge_index)
    # hairpin: with br_netfilter loaded, a container's packet DNATed back to itself is bridged
    # out of the port it came in by, which a bridge refuses unless the port allows it
    rtnl.set_hairpin(index)
    rtnl.set_link(index, up=True)


def configure_container(lease):
    """Inside the container: lo and eth0 up, the lease's address, default route via the gateway."""
    with entered(lease.netns["path"]):
        index = socket.if_nametoindex(CONTAINER_IFNAME)
        loopback = socket.if_nametoindex("lo")
        rtnl = Rtnl()
    with rtnl:
        rtnl.set_link(loopback, up=True)
        rtnl.add_address(index, lease.address, lease.prefix)
        rtnl.set_link(index, up=True)
        rtnl.add_default_route(lease.gateway, index)


def remove_link(rtnl, name):
    index = _index(name)
    if index is not None:
        _ignore(errno.ENODEV, rtnl.delete_link, index)


def _index(name):
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def _ignore(code, call, *args):
    try:
        call(*args)
    except OSError as err:
        if err.errno != code:
            raise
