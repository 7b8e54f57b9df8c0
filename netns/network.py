"""Bridge networking: one bridge, one subnet, one nftables table, a lease per container."""

import os
import socket

from pybox.errors import PyboxError
from pybox.netns import nft
from pybox.netns.ipam import Book, NetnsRef, parse_subnet
from pybox.netns.ports import normalize_port

DEFAULT_STATE_DIR = "/var/lib/pybox/net"
IFNAMSIZ = 15


class Network:
    """A bridge network. attach() plugs a container's network namespace in, detach() unplugs it.

    state_dir holds one folder per bridge with the lease book; table is the nftables table (ip
    family) holding NAT and published ports.
    """

    def __init__(self, state_dir=DEFAULT_STATE_DIR, bridge="pybox0", subnet="10.88.0.0/16",
                 table="pybox"):
        if not bridge or len(bridge) > IFNAMSIZ or "/" in bridge or bridge in (".", ".."):
            raise PyboxError(f"bridge name {bridge!r}: must be 1 to {IFNAMSIZ} characters, no '/'")
        self.bridge = bridge
        self.subnet = parse_subnet(subnet)
        self.state_dir = os.path.join(state_dir, bridge)
        self.table = nft.Table(table, bridge, self.subnet)
        self._host_ready = False

    def attach(self, container_id, netns, ports=(), hostname=None, dns=(), extra_hosts=()):
        """Give the network namespace at path or pid `netns` an eth0 on the bridge; return its Lease.

        Undoes everything on failure. hostname, dns and extra_hosts are only recorded in the
        lease (for inspect); write_etc_files() renders them.
        """
        _check_id(container_id)
        ports = [normalize_port(p) for p in ports]
        ref = NetnsRef.of(netns)
        with self._book() as book:
            self._forget(book, book.stale())
            lease = book.allocate(container_id, ref, ports, veth=veth_name(container_id),
                                  hostname=hostname, dns=list(dns), extra_hosts=list(extra_hosts))
        try:
            self._plumb(lease)
        except BaseException as err:
            self.detach(container_id)
            if isinstance(err, OSError):
                raise PyboxError(f"attach {container_id} to {self.bridge}: {err.strerror}",
                                 err.errno) from None
            raise
        return lease

    def detach(self, container_id):
        """Remove the container's veth, port rules and lease. Idempotent; works after a crash."""
        with self._book() as book:
            lease = book.leases.get(container_id)
        if lease is None:
            return False
        self._unplug([lease])
        with self._book() as book:
            book.release(container_id)
        return True

    def leases(self):
        with self._book() as book:
            return dict(book.leases)

    def collect(self):
        """Detach every container whose network namespace is gone; return their ids."""
        with self._book() as book:
            stale = book.stale()
            self._forget(book, stale)
        return [lease.container_id for lease in stale]

    def teardown(self):
        """Remove the bridge, the nftables table and all leases: the host as before pybox."""
        with self._book() as book:
            self._forget(book, list(book.leases.values()))
            self.table.delete()
            self._remove_links([self.bridge])

    def _book(self):
        return Book(self.state_dir, self.subnet)

    def _plumb(self, lease):
        from pybox.netns import links

        with links.open_route() as rtnl:
            bridge_index = self._host_ready and _link_index(self.bridge)
            if not bridge_index:  # first attach of this process, or the bridge was removed
                bridge_index = links.ensure_bridge(rtnl, self.bridge, lease.gateway, lease.prefix)
                self._host_setup()
            links.plug(rtnl, lease, bridge_index)
        links.configure_container(lease)
        nft.run(self.table.publish(lease.container_id, lease.address, lease.ports))

    def _host_setup(self):
        if not self.table.ready():  # listing is 1 ms, rewriting the base chains 15 ms
            nft.run(self.table.setup())
        # route_localnet: packets from 127.0.0.1 DNATed to a container may leave via the bridge
        for key in ("ipv4/ip_forward", f"ipv4/conf/{self.bridge}/route_localnet"):
            _sysctl(f"/proc/sys/net/{key}", "1")
        self._host_ready = True

    def _forget(self, book, leases):
        """Unplug leases and drop them from the book (the caller holds its lock)."""
        if leases:
            self._unplug(leases)
            for lease in leases:
                book.leases.pop(lease.container_id, None)
            book.save()

    def _unplug(self, leases):
        published = {lease.container_id for lease in leases if lease.ports}
        if published:
            nft.run(self.table.unpublish(published))
        self._remove_links([lease.veth for lease in leases])

    @staticmethod
    def _remove_links(names):
        # A veth dies with its container's namespace: open a netlink socket only for links
        # that are still there.
        present = [name for name in names if _link_index(name)]
        if present:
            from pybox.netns import links

            with links.open_route() as rtnl:
                for name in present:
                    links.remove_link(rtnl, name)


def _check_id(container_id):
    # the id is the comment of its nftables rules, which holds at most 128 bytes
    if not container_id or len(container_id.encode()) > 128 or not container_id.isprintable():
        raise PyboxError(f"container id {container_id!r}: must be 1 to 128 printable bytes")


def veth_name(container_id):
    """The host end's name: stable for an id, so a half-set-up container can still be found."""
    from _blake2 import blake2s  # hashlib itself would load OpenSSL: 6 ms per container start

    return "pb" + blake2s(container_id.encode(), digest_size=6).hexdigest()


def _link_index(name):
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def _sysctl(path, value):
    with open(path, "r+") as f:
        if f.read().strip() != value:
            f.seek(0)
            f.write(value)
