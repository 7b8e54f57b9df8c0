"""Benchmark: pybox.netns attach/detach against podman's netavark (setup/teardown), side by side.

    /opt/pybox/bin/python -m tests.netns.bench_netns [COUNT]

Each tool plugs COUNT fresh network namespaces (one published port each) into a bridge inside its
own fake host namespace, then unplugs them. netavark is a new process per call, as podman runs
it; pybox is measured both in-process (the runtime calls the library) and cold (a new Python
process that imports pybox.netns first, as one `pybox run` would; Python's own start-up is shown
apart, since `pybox run` pays it anyway).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from pybox.netns import Network
from tests.netns.fakehost import FakeHost

NETAVARK = "/usr/lib/podman/netavark"


def netavark_options(i):
    return {
        "container_id": f"{i:012x}", "container_name": f"c{i}",
        "networks": {"podman": {"interface_name": "eth0", "static_ips": [f"10.89.0.{i + 2}"]}},
        "network_info": {"podman": {
            "dns_enabled": False, "driver": "bridge", "id": "ab" * 32, "internal": False,
            "ipv6_enabled": False, "name": "podman", "network_interface": "podman0",
            "subnets": [{"gateway": "10.89.0.1", "subnet": "10.89.0.0/16"}]}},
        "port_mappings": [{"host_ip": "", "container_port": 80, "host_port": 10000 + i,
                           "range": 1, "protocol": "tcp"}],
    }


def timed(calls):
    start = time.perf_counter()
    for call in calls:
        call()
    return (time.perf_counter() - start) / len(calls) * 1000


def bench_netavark(workdir, count):
    with FakeHost(workdir) as host:
        namespaces = [host.netns(f"n{i}", lo_up=False) for i in range(count)]
        files = []
        for i in range(count):
            path = os.path.join(workdir, f"netavark-{i}.json")
            with open(path, "w") as f:
                json.dump(netavark_options(i), f)
            files.append(path)

        def run(command, i):
            return lambda: subprocess.run([NETAVARK, "--config", workdir, "-f", files[i], command,
                                           namespaces[i].path], check=True, capture_output=True)
        setup = timed([run("setup", i) for i in range(count)])
        teardown = timed([run("teardown", i) for i in range(count)])
        subprocess.run(["ip", "link", "del", "podman0"], check=False)
    return setup, teardown


def bench_pybox(workdir, count):
    with FakeHost(workdir) as host:
        namespaces = [host.netns(f"n{i}", lo_up=False) for i in range(count + 1)]
        net = Network(state_dir=os.path.join(workdir, "net"))
        try:
            attach = timed([lambda i=i: net.attach(f"c{i}", namespaces[i].path,
                                                   ports=[("0.0.0.0", 10000 + i, 80, "tcp")])
                            for i in range(count)])
            detach = timed([lambda i=i: net.detach(f"c{i}") for i in range(count)])
            cold = cold_attach(workdir, namespaces[count].path)
        finally:
            net.teardown()
    return attach, detach, cold


def cold_attach(workdir, path):
    code = ("from pybox.netns import Network; "
            f"Network(state_dir={os.path.join(workdir, 'net')!r}).attach('cold', {path!r}, "
            "ports=[('0.0.0.0', 9999, 80, 'tcp')])")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pybox"], check=True)
    return cold * 1000, (time.perf_counter() - start) * 1000


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        setup, teardown = bench_netavark(a, count)
        attach, detach, (cold, python) = bench_pybox(b, count)
    print(f"{count} containers, one published port each (ms per container)")
    print(f"  netavark setup     {setup:7.1f}   pybox attach {attach:7.1f}   ratio {attach / setup:.2f}")
    print(f"  netavark teardown  {teardown:7.1f}   pybox detach {detach:7.1f}   ratio {detach / teardown:.2f}")
    print(f"  pybox cold attach (new python process) {cold:7.1f}   ratio {cold / setup:.2f}"
          f"   (of which python start-up {python:.1f})")


if __name__ == "__main__":
    main()
