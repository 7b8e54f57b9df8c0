"""The /etc/resolv.conf, /etc/hosts and /etc/hostname a container sees.

They are generated into a directory the runtime bind-mounts over the image's files, so the image
stays untouched and a read-only rootfs still gets them.
"""

import os

HOST_RESOLV_CONF = "/etc/resolv.conf"
# Docker's fallback when the host only lists resolvers on its own loopback (systemd-resolved,
# dnsmasq): the container's loopback is a different one, so they would not answer.
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def write_etc_files(directory, hostname, lease=None, dns=(), extra_hosts=(), dns_search=()):
    """Write resolv.conf, hosts and hostname into `directory`; return their paths by /etc name.

    lease: the Lease of a bridge network (its address maps the hostname), or None for `none`
    and `host`. dns: nameserver addresses; empty means the host's, minus loopback ones.
    extra_hosts: (name, address) pairs, as from --add-host.
    """
    os.makedirs(directory, exist_ok=True)
    address = lease.address if lease is not None else None
    files = {
        "resolv.conf": resolv_conf(dns, dns_search),
        "hosts": hosts(hostname, address, extra_hosts),
        "hostname": f"{hostname}\n",
    }
    paths = {}
    for name, text in files.items():
        paths[f"/etc/{name}"] = _write(os.path.join(directory, name), text)
    return paths


def resolv_conf(dns=(), search=(), host_file=HOST_RESOLV_CONF):
    if dns:
        lines = [f"nameserver {server}" for server in dns]
    else:
        lines = _host_resolv_lines(host_file)
    if search:
        lines = [line for line in lines if not line.startswith(("search", "domain"))]
        lines.append("search " + " ".join(search))
    return "\n".join(lines) + "\n"


def _host_resolv_lines(host_file):
    try:
        with open(host_file) as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith(("#", ";"))]
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if not _is_loopback_nameserver(line)]
    if not any(line.split()[0] == "nameserver" for line in kept):
        kept += [f"nameserver {server}" for server in FALLBACK_DNS]
    return kept


def _is_loopback_nameserver(line):
    words = line.split()
    return words[0] == "nameserver" and len(words) > 1 and words[1].startswith(("127.", "::1"))


def hosts(hostname, address=None, extra_hosts=()):
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    if address:
        lines.append(f"{address}\t{hostname}")
    else:
        lines[0] += f" {hostname}"
    lines += [f"{ip}\t{name}" for name, ip in extra_hosts]
    return "\n".join(lines) + "\n"


def _write(path, text):
    from pybox.fsutil import write_atomic
    write_atomic(path, text, 0o644)
    return path
