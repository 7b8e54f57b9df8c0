"""The container's network, through pybox.netns: modes none, host, bridge and container:REF."""

import os

from pybox.errors import PyboxError
from pybox.engine import options as o

MODES = ("none", "host", "bridge")


def network_of(store):
    from pybox.netns import Network
    return Network(state_dir=store.path("net"), bridge=os.environ.get("PYBOX_BRIDGE", "pybox0"),
                   subnet=os.environ.get("PYBOX_SUBNET", "10.88.0.0/16"))


def check_mode(v):
    mode = v["network"] or "bridge"
    if mode not in MODES and not mode.startswith("container:"):
        raise PyboxError(f"--network {mode!r}: expected none, host, bridge or container:NAME")
    if v["publish"] and mode != "bridge":
        raise PyboxError(f"--publish needs the bridge network, not {mode!r}")
    return mode


def settings(v):
    """The network fields of meta.json, checked before anything is made."""
    from pybox.netns import parse_publish
    return {"network": check_mode(v), "ports": [parse_publish(p) for p in v["publish"]],
            "dns": _dns(v["dns"]), "extra_hosts": [o.parse_add_host(h) for h in v["add_host"]]}


def _dns(servers):
    import ipaddress
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise PyboxError(f"--dns {server!r}: not an IP address") from None
    return list(servers)


def write_etc(box):
    """hosts, hostname and resolv.conf in the bundle; hosts gains the address once attached."""
    from pybox.netns import write_etc_files
    data = box.data
    return write_etc_files(box.path("etc"), data["hostname"], None, data["dns"],
                           [tuple(h) for h in data["extra_hosts"]])


def connect(store, box, pid):
    """Plug the created container (init pid) in; called between create and start."""
    mode = box.data["network"]
    if mode == "none":
        from pybox.userns import in_user_namespace
        if not in_user_namespace():  # there the init's own (runc's) is all: we could not come back
            from pybox.netns import loopback_up
            loopback_up(pid)
    elif mode == "bridge":
        data = box.data
        lease = network_of(store).attach(box.id, pid, ports=[tuple(p) for p in data["ports"]],
                                         hostname=data["hostname"], dns=data["dns"],
                                         extra_hosts=[tuple(h) for h in data["extra_hosts"]])
        _rewrite_hosts(box, lease)
        box.update(lease=lease.to_json())


def _rewrite_hosts(box, lease):
    # In place: the container's /etc/hosts is a bind mount of this very inode.
    from pybox.netns.etcfiles import hosts
    text = hosts(box.data["hostname"], lease.address, [tuple(h) for h in box.data["extra_hosts"]])
    with open(box.path("etc", "hosts"), "w") as f:
        f.write(text)


def disconnect(store, box):
    if box.data.get("network") == "bridge" and box.data.get("lease"):
        network_of(store).detach(box.id)
        box.update(lease=None)
