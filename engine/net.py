"""The container's network, through pybox.netns: modes none, host, bridge and container:REF; for
an ordinary user pasta (user-mode, through pybox.netns.pasta) is the default and bridge is
refused, as podman's rootless mode has slirp4netns or pasta and no bridge of its own."""

import os

from pybox.errors import PyboxError
from pybox.engine import options as o

MODES = ("none", "host", "bridge", "pasta")


def network_of(store):
    from pybox.netns import Network
    return Network(state_dir=store.path("net"), bridge=os.environ.get("PYBOX_BRIDGE", "pybox0"),
                   subnet=os.environ.get("PYBOX_SUBNET", "10.88.0.0/16"))


def check_mode(v):
    from pybox.userns import rootless_uid
    rootless = rootless_uid() is not None
    mode = v["network"] or ("pasta" if rootless else "bridge")
    if mode not in MODES and not mode.startswith(("container:", "pasta:")):
        raise PyboxError(f"--network {mode!r}: expected none, host, bridge, pasta[:OPTIONS] or "
                         "container:NAME")
    if rootless and mode == "bridge":
        raise PyboxError("--network bridge: rootless: a bridge needs root; use pasta (the "
                         "default) or none")
    if not rootless and mode.partition(":")[0] == "pasta":
        raise PyboxError("--network pasta: for ordinary users; root's containers have the bridge")
    if v["publish"] and mode != "bridge" and mode.partition(":")[0] != "pasta":
        raise PyboxError(f"--publish needs the bridge or pasta network, not {mode!r}")
    return mode


def _check_ports(ports):
    """Rootless: pasta binds the host's ports as the user, so only unprivileged ones."""
    from pybox.userns import rootless_uid
    if rootless_uid() is None or not ports:
        return
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            first = int(f.read())
    except (OSError, ValueError):
        first = 1024
    for _, host_port, container_port, _ in ports:
        if host_port < first:
            raise PyboxError(f"--publish {host_port}:{container_port}: rootless: host port "
                             f"{host_port} is below net.ipv4.ip_unprivileged_port_start ({first})")


def settings(v):
    """The network fields of meta.json, checked before anything is made."""
    from pybox.netns import parse_publish
    ports = [parse_publish(p) for p in v["publish"]]
    _check_ports(ports)
    return {"network": check_mode(v), "ports": ports,
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
    elif mode.partition(":")[0] == "pasta":
        from pybox.netns import pasta
        extra = [o for o in mode.partition(":")[2].split(",") if o]
        box.update(pasta=True)  # before it runs: a kill now still finds it to stop
        pasta.start(pid, box.path("netns"), box.path("pasta.pid"),
                    [tuple(p) for p in box.data["ports"]], extra)


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
    elif box.data.get("pasta"):
        from pybox.netns import pasta
        pasta.stop(box.path("netns"), box.path("pasta.pid"))
        box.update(pasta=False)
