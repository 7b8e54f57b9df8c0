"""Addresses for containers on one bridge: a lease book kept in a JSON file under a flock.

Every attach takes the lock only to read the book, pick an address and write it back, so
concurrent `pybox run`s never share an address. Each lease records which network namespace it
serves (device and inode of the nsfs file); when that namespace is gone (the container died and
nobody called detach) the lease is stale and its address is free again.
"""

import fcntl
import ipaddress
import json
import os

from pybox.errors import PyboxError
from pybox.fsutil import write_atomic
from pybox.netns.enter import netns_path


class Lease:
    """One container's place on the bridge."""

    FIELDS = ("container_id", "address", "prefix", "gateway", "mac", "veth", "netns", "ports",
              "hostname", "dns", "extra_hosts")

    def __init__(self, **fields):
        for name in self.FIELDS:
            setattr(self, name, fields.get(name))
        self.ports = [tuple(p) for p in self.ports or ()]

    def to_json(self):
        return {name: getattr(self, name) for name in self.FIELDS}

    def __repr__(self):
        return f"Lease({self.container_id!r}, {self.address}/{self.prefix} via {self.gateway})"


class NetnsRef:
    """A network namespace by path plus its identity, so a reused pid or path is not mistaken."""

    @staticmethod
    def of(netns):
        path = netns_path(netns)
        try:
            st = os.stat(path)
        except OSError as err:
            raise PyboxError(f"network namespace {path}: {err.strerror}", err.errno) from None
        return {"path": path, "dev": st.st_dev, "ino": st.st_ino}

    @staticmethod
    def alive(ref):
        try:
            st = os.stat(ref["path"])
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (ref["dev"], ref["ino"])


class Book:
    """The lease file of one subnet; use as `with Book(...) as book:` to hold the lock."""

    def __init__(self, state_dir, subnet):
        self.dir = state_dir
        self.subnet = subnet
        self.path = os.path.join(state_dir, "leases.json")
        self.lock_fd = None
        self.leases = {}
        self.last = None

    def __enter__(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.lock_fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                               0o600)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        self._load()
        return self

    def __exit__(self, *exc):
        os.close(self.lock_fd)  # closing drops the flock; a crash drops it too
        self.lock_fd = None

    def _load(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        self.leases = {cid: Lease(**fields) for cid, fields in data.get("leases", {}).items()}
        self.last = data.get("last")

    def save(self):
        data = {"subnet": str(self.subnet), "last": self.last,
                "leases": {cid: lease.to_json() for cid, lease in self.leases.items()}}
        write_atomic(self.path, json.dumps(data), 0o644)

    def stale(self):
        """The leases whose network namespace no longer exists."""
        return [lease for lease in self.leases.values() if not NetnsRef.alive(lease.netns)]

    def allocate(self, container_id, netns_ref, ports, **extra):
        if container_id in self.leases:
            raise PyboxError(f"container {container_id} is already attached to the network")
        self._check_ports_free(ports)
        address = self._free_address()
        gateway = gateway_of(self.subnet)
        lease = Lease(container_id=container_id, address=str(address), prefix=self.subnet.prefixlen,
                      gateway=str(gateway), mac=mac_for(address), netns=netns_ref, ports=ports,
                      **extra)
        self.leases[container_id] = lease
        self.last = str(address)
        self.save()
        return lease

    def release(self, container_id):
        if self.leases.pop(container_id, None) is not None:
            self.save()

    def _free_address(self):
        """Round-robin from the last address handed out, so a just-freed one is reused last
        (stale ARP and conntrack entries of its old owner have time to expire)."""
        taken = {lease.address for lease in self.leases.values()}
        first = int(gateway_of(self.subnet)) + 1
        end = int(self.subnet.broadcast_address)
        size = end - first
        start = int(ipaddress.IPv4Address(self.last)) + 1 if self.last else first
        for step in range(size):
            candidate = first + (start - first + step) % size
            if str(ipaddress.IPv4Address(candidate)) not in taken:
                return ipaddress.IPv4Address(candidate)
        raise PyboxError(f"no free address left in {self.subnet}")

    def _check_ports_free(self, ports):
        for lease in self.leases.values():
            for port in ports:
                for other in lease.ports:
                    if ports_clash(port, other):
                        host_ip, host_port, _, proto = port
                        raise PyboxError(f"port {host_ip}:{host_port}/{proto} is already published "
                                         f"by container {lease.container_id}")


def ports_clash(a, b):
    same_ip = a[0] == b[0] or "0.0.0.0" in (a[0], b[0])
    return same_ip and a[1] == b[1] and a[3] == b[3]


def parse_subnet(subnet):
    try:
        network = ipaddress.IPv4Network(subnet)
    except ValueError as err:
        raise PyboxError(f"subnet {subnet!r}: {err}") from None
    if network.prefixlen > 30:
        raise PyboxError(f"subnet {subnet}: too small, needs a prefix of /30 or shorter")
    return network


def gateway_of(subnet):
    return subnet.network_address + 1


def mac_for(address):
    """A locally administered MAC derived from the address, like Docker's 02:42:<ip>: stable
    across restarts, so neighbours' ARP caches stay right."""
    return "02:42:" + ":".join(f"{byte:02x}" for byte in address.packed)
