"""200 containers on one bridge, attached and detached by 4 processes at once."""

import multiprocessing
import time

from pybox.netns import Network
from tests.netns.fakehost import FakeHost, sh

COUNT = 200
WORKERS = 4


def attach_all(state_dir, containers):
    net = Network(state_dir=state_dir)
    return [(cid, net.attach(cid, path, ports=[("0.0.0.0", port, 80, "tcp")]).address)
            for cid, path, port in containers]


def detach_all(state_dir, ids):
    net = Network(state_dir=state_dir)
    return [net.detach(cid) for cid in ids]


def in_workers(function, state_dir, items):
    chunks = [items[i::WORKERS] for i in range(WORKERS)]
    # fork: the workers start inside the fake host's namespace, like this thread
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        results = pool.starmap(function, [(state_dir, chunk) for chunk in chunks])
    return [item for chunk in results for item in chunk]


def bridge_ports():
    return sh("ip", "-o", "link", "show", "master", "pybox0", check=False).stdout.count("\n")


def test_200_containers_get_distinct_addresses_and_are_all_cleaned_up(tmp_path):
    state_dir = str(tmp_path / "net")
    with FakeHost(tmp_path) as host:
        namespaces = [host.netns(f"c{i}", lo_up=False) for i in range(COUNT)]
        containers = [(f"c{i}", ns.path, 10000 + i) for i, ns in enumerate(namespaces)]
        net = Network(state_dir=state_dir)
        try:
            start = time.perf_counter()
            attached = in_workers(attach_all, state_dir, containers)
            attach_time = time.perf_counter() - start

            addresses = [address for _, address in attached]
            assert len(set(addresses)) == COUNT
            assert sorted(net.leases()) == sorted(cid for cid, _, _ in containers)
            assert bridge_ports() == COUNT
            assert len(net.table.published()) == COUNT
            first, last = namespaces[0], namespaces[-1]
            assert f"inet {addresses[-1]}/16" in last.addresses()
            first.run("busybox", "ping", "-c", "1", "-W", "2", dict(attached)["c199"])

            start = time.perf_counter()
            assert all(in_workers(detach_all, state_dir, [cid for cid, _, _ in containers]))
            detach_time = time.perf_counter() - start
        finally:
            net.teardown()
        assert net.leases() == {} and bridge_ports() == 0
        assert "pybox" not in sh("nft", "list", "tables").stdout
        print(f"\n{COUNT} containers, {WORKERS} processes: attach {attach_time:.2f} s "
              f"({attach_time / COUNT * 1000:.1f} ms each), detach {detach_time:.2f} s")
    assert not host.left_behind()
