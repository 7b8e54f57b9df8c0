"""A network namespace that plays the host, so network tests never touch the real one.

While a FakeHost is entered, this thread (and every process it starts) lives in the fake host's
namespace: the bridge, the nftables table and the containers' veths all appear there. Containers
and the "internet" are further namespaces made with `ip netns`; deleting them all at the end
takes every link, route and rule along.
"""

import os
import subprocess
import time
import uuid

from pybox.netns.enter import entered
from pybox.netns.loopback import loopback_up

BUSYBOX = "/bin/busybox"
WAN_HOST, WAN_PEER = "198.51.100.1", "198.51.100.2"  # TEST-NET-2: never a real address


def sh(*args, check=True):
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result


class Namespace:
    def __init__(self, name):
        self.name = name
        self.path = f"/run/netns/{name}"

    def run(self, *args, check=True):
        return sh("nsenter", f"--net={self.path}", *args, check=check)

    def addresses(self):
        return self.run("ip", "-4", "-o", "addr", "show").stdout


class FakeHost:
    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.prefix = f"pyboxtest-{uuid.uuid4().hex[:8]}"
        self.namespaces = []
        self.processes = []
        self.entered = None
        self.host = None

    def __enter__(self):
        self.host = self.netns("host")
        self.entered = entered(self.host.path).__enter__()
        loopback_up()
        return self

    def __exit__(self, *exc):
        for proc in self.processes:
            proc.kill()
            proc.wait()
        self.entered.__exit__(None, None, None)
        self.delete(self.namespaces)

    def netns(self, role, lo_up=True):
        ns = Namespace(f"{self.prefix}-{role}")
        sh("ip", "netns", "add", ns.name)
        self.namespaces.append(ns)
        if lo_up:
            loopback_up(ns.path)
        return ns

    def delete(self, namespaces):
        for ns in list(namespaces):
            sh("ip", "netns", "del", ns.name, check=False)
            self.namespaces.remove(ns)

    def left_behind(self):
        return [name for name in sh("ip", "netns", "list").stdout.split() if name.startswith(self.prefix)]

    def internet(self):
        """A namespace behind the host's wan0 that knows no route to the containers' subnet:
        a reply reaches a container only if the host masqueraded the request."""
        inet = self.netns("inet")
        sh("ip", "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", inet.path)
        sh("ip", "addr", "add", f"{WAN_HOST}/24", "dev", "wan0")
        sh("ip", "link", "set", "wan0", "up")
        inet.run("ip", "addr", "add", f"{WAN_PEER}/24", "dev", "eth0")
        inet.run("ip", "link", "set", "eth0", "up")
        return inet

    def serve(self, ns, port, text):
        """busybox httpd in namespace `ns` (None: the fake host) answering `text`."""
        root = os.path.join(self.workdir, f"www-{len(self.processes)}")
        os.makedirs(root)
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write(text)
        cmd = [BUSYBOX, "httpd", "-f", "-p", str(port), "-h", root]
        if ns is not None:
            cmd = ["nsenter", f"--net={ns.path}", *cmd]
        self.processes.append(subprocess.Popen(cmd))
        deadline = time.monotonic() + 5
        while not fetch(ns, f"http://127.0.0.1:{port}/", timeout=1):
            assert time.monotonic() < deadline, f"httpd on port {port} did not start"
            time.sleep(0.05)


def fetch(ns, url, timeout=3):
    """The body at `url` fetched from namespace `ns` (None: the fake host), or None."""
    cmd = [BUSYBOX, "wget", "-q", "-O", "-", url]  # not -T: busybox 1.35's wget crashes with it
    if ns is not None:
        cmd = ["nsenter", f"--net={ns.path}", *cmd]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return result.stdout if result.returncode == 0 else None
