"""The few rtnetlink requests a bridge network needs, on a plain netlink socket.

Why not pyroute2: importing it costs 165 ms here (its package __init__ loads every netlink
family plus asyncio), six times what netavark needs for a whole container setup; these seven
requests cost 2 ms to import. Each request asks for an ACK, so a failure is an OSError with the
kernel's errno, like os.* raises.
"""

import os
import socket
import struct

RTM_NEWLINK, RTM_DELLINK, RTM_SETLINK = 16, 17, 19
RTM_NEWADDR, RTM_NEWROUTE = 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLA_F_NESTED = 0x8000

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_PROTINFO = 1, 3, 10, 12
IFLA_LINKINFO, IFLA_NET_NS_FD = 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
IFF_UP = 0x1

_HEADER = struct.Struct("=IHHII")   # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")   # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")


def attr(kind, value):
    """One netlink attribute; str values are NUL-terminated, int values are u32."""
    if isinstance(value, str):
        value = value.encode() + b"\0"
    elif isinstance(value, int):
        value = struct.pack("=I", value)
    size = 4 + len(value)
    return struct.pack("=HH", size, kind) + value + b"\0" * (-size % 4)


def nested(kind, *attrs):
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def ifinfo(index=0, flags=0, change=0, family=socket.AF_UNSPEC):
    return _IFINFO.pack(family, 0, index, flags, change)


def mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(":"))


class Rtnl:
    """A NETLINK_ROUTE socket in the namespace of the thread that opened it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def request(self, kind, body, flags=0):
        self.seq += 1
        header = _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                              self.seq, 0)
        self.sock.send(header + body)
        self._wait_ack()

    def _wait_ack(self):
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset < len(data):
                length, kind, _, seq, _ = _HEADER.unpack_from(data, offset)
                if kind == NLMSG_ERROR and seq == self.seq:
                    error = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    if error:
                        raise OSError(error, os.strerror(error))
                    return
                offset += (length + 3) & ~3

    def add_bridge(self, name, mac):
        self.request(RTM_NEWLINK, ifinfo() + attr(IFLA_IFNAME, name) +
                     attr(IFLA_ADDRESS, mac_bytes(mac)) +
                     nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "bridge")),
                     NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name, peer, peer_netns_fd, peer_mac):
        """A veth pair whose `peer` end is born inside the namespace of peer_netns_fd."""
        peer_info = ifinfo() + attr(IFLA_IFNAME, peer) + attr(IFLA_NET_NS_FD, peer_netns_fd) + \
            attr(IFLA_ADDRESS, mac_bytes(peer_mac))
        info = nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "veth"),
                      nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info)))
        self.request(RTM_NEWLINK, ifinfo() + attr(IFLA_IFNAME, name) + info,
                     NLM_F_CREATE | NLM_F_EXCL)

    def set_link(self, index, up=False, master=None):
        attrs = attr(IFLA_MASTER, master) if master is not None else b""
        flags = IFF_UP if up else 0
        self.request(RTM_NEWLINK, ifinfo(index, flags, IFF_UP if up else 0) + attrs)

    def set_hairpin(self, index):
        self.request(RTM_SETLINK, ifinfo(index, family=socket.AF_BRIDGE) +
                     nested(IFLA_PROTINFO, attr(IFLA_BRPORT_MODE, b"\1")))

    def move_link(self, index, netns_fd, name=None):
        """Move a link into the namespace of netns_fd, renaming it on the way when name is given."""
        attrs = attr(IFLA_NET_NS_FD, netns_fd) + (attr(IFLA_IFNAME, name) if name else b"")
        self.request(RTM_NEWLINK, ifinfo(index) + attrs)

    def delete_link(self, index):
        self.request(RTM_DELLINK, ifinfo(index))

    def add_address(self, index, address, prefix):
        packed = socket.inet_aton(address)
        self.request(RTM_NEWADDR, _IFADDR.pack(socket.AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index) +
                     attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed),
                     NLM_F_CREATE | NLM_F_EXCL)

    def add_default_route(self, gateway, oif):
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE,
                           RTN_UNICAST, 0)
        self.request(RTM_NEWROUTE, body + attr(RTA_GATEWAY, socket.inet_aton(gateway)) +
                     attr(RTA_OIF, oif), NLM_F_CREATE | NLM_F_EXCL)
