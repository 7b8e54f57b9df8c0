"""Links, addresses and routes through netlink (pyroute2); imported only for bridge networking."""

import errno
import os
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pybox.errors import PyboxError
from pybox.netns.enter import entered

CONTAINER_IFNAME = "eth0"


def open_route(netns=None):
    """A netlink socket in this thread's namespace, or in the one at path/pid `netns`."""
    if netns is None:
        return IPRoute()
    with entered(netns):
        return IPRoute()


def ensure_bridge(ipr, name, gateway, prefix):
    index = _lookup(ipr, name)
    if index is None:
        _ignore(errno.EEXIST, ipr.link, "add", ifname=name, kind="bridge")  # a racing attach
        index = _lookup(ipr, name)
    _ignore(errno.EEXIST, ipr.addr, "add", index=index, address=gateway, prefixlen=prefix)
    ipr.link("set", index=index, state="up")
    return index


def plug(ipr, lease, bridge_index):
    """Create the veth pair with its container end born inside the container's namespace."""
    fd = os.open(lease.netns["path"], os.O_RDONLY | os.O_CLOEXEC)
    try:
        ipr.link("add", ifname=lease.veth, kind="veth",
                 peer={"ifname": CONTAINER_IFNAME, "net_ns_fd": fd, "address": lease.mac})
    finally:
        os.close(fd)
    index = socket.if_nametoindex(lease.veth)
    ipr.link("set", index=index, master=bridge_index)
    # hairpin: with br_netfilter loaded, a container's packet DNATed back to itself is bridged
    # out of the port it came in by, which a bridge refuses unless the port allows it
    ipr.brport("set", index=index, mode=1)
    ipr.link("set", index=index, state="up")


def configure_container(lease):
    """Inside the container: lo and eth0 up, the lease's address, default route via the gateway."""
    with entered(lease.netns["path"]):
        index = socket.if_nametoindex(CONTAINER_IFNAME)
        loopback = socket.if_nametoindex("lo")
        ipr = IPRoute()
    with ipr:
        ipr.link("set", index=loopback, state="up")
        ipr.addr("add", index=index, address=lease.address, prefixlen=lease.prefix)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=lease.gateway, oif=index)


def remove_link(ipr, name):
    index = _lookup(ipr, name)
    if index is not None:
        _ignore(errno.ENODEV, ipr.link, "del", index=index)


def _lookup(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _ignore(code, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except NetlinkError as err:
        if err.code != code:
            raise


def netlink_error(err, step):
    return PyboxError(f"{step}: {os.strerror(err.code)}", err.code)
