"""pybox.netns: container networking.

    from pybox.netns import Network, loopback_up, write_etc_files, parse_publish

    net = Network(state_dir="/var/lib/pybox/net", bridge="pybox0", subnet="10.88.0.0/16")
    lease = net.attach(container_id, "/proc/1234/ns/net" or 1234,
                       ports=[("0.0.0.0", 8080, 80, "tcp")], hostname="web")
    lease.address, lease.gateway, lease.prefix, lease.mac, lease.veth   # "10.88.0.2", ...
    write_etc_files(directory, "web", lease, dns=["1.1.1.1"], extra_hosts=[("db", "10.0.0.5")])
    net.detach(container_id)     # veth, port rules, lease; idempotent, fine after a crash
    net.collect()                # detach every container whose namespace is gone
    net.teardown()               # bridge and nftables table too

    loopback_up(netns=None)      # --network none: lo up, one ioctl

Links go through a small rtnetlink client of our own (rtnl.py) and nftables through libnftables
in-process, so a cold attach imports in about 3 ms (pyroute2 alone takes 165 ms). The names here
are imported lazily so `import pybox.netns` costs next to nothing.
"""

_EXPORTS = {
    "Network": "pybox.netns.network",
    "Lease": "pybox.netns.ipam",
    "loopback_up": "pybox.netns.loopback",
    "write_etc_files": "pybox.netns.etcfiles",
    "parse_publish": "pybox.netns.ports",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pybox.netns' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
