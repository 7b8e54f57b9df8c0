"""Bridge networking on the real kernel, inside a fake host network namespace (see FakeHost)."""

import os
import signal
import subprocess
import sys

import pytest

from pybox.errors import PyboxError
from pybox.netns import Network, loopback_up
from tests.netns.fakehost import WAN_HOST, WAN_PEER, FakeHost, fetch, sh


@pytest.fixture
def host(tmp_path):
    with FakeHost(tmp_path) as fake:
        yield fake
    assert not fake.left_behind()


@pytest.fixture
def net(host, tmp_path):
    network = Network(state_dir=str(tmp_path / "net"))
    yield network
    network.teardown()
    assert "pybox" not in sh("nft", "list", "tables").stdout
    assert "pybox0" not in links()


def links():
    return sh("ip", "-o", "link", "show").stdout


def bridge_ports(bridge="pybox0"):
    return sh("ip", "-o", "link", "show", "master", bridge, check=False).stdout.count("\n")


def test_container_reaches_a_server_outside_through_nat(host, net):
    inet = host.internet()
    host.serve(inet, 8000, "from the internet")
    ctr = host.netns("c1")
    net.attach("c1", ctr.path)
    assert "10.88.0.0" not in inet.run("ip", "route").stdout  # no way back without masquerade
    assert fetch(ctr, f"http://{WAN_PEER}:8000/") == "from the internet"


def test_published_port_from_outside_host_localhost_and_hairpin(host, net):
    inet = host.internet()
    web, other = host.netns("web"), host.netns("other")
    net.attach("web", web.path, ports=[("0.0.0.0", 8080, 80, "tcp")])
    net.attach("other", other.path)
    host.serve(web, 80, "hello from web")
    assert fetch(inet, f"http://{WAN_HOST}:8080/") == "hello from web"
    assert fetch(None, "http://127.0.0.1:8080/") == "hello from web"
    assert fetch(None, f"http://{WAN_HOST}:8080/") == "hello from web"
    assert fetch(web, f"http://{WAN_HOST}:8080/") == "hello from web"  # back into itself
    assert fetch(other, f"http://{WAN_HOST}:8080/") == "hello from web"


def test_port_published_on_one_host_address_only(host, net):
    host.internet()
    web = host.netns("web")
    net.attach("web", web.path, ports=[("127.0.0.1", 8081, 80, "tcp")])
    host.serve(web, 80, "local only")
    assert fetch(None, "http://127.0.0.1:8081/") == "local only"
    assert fetch(None, f"http://{WAN_HOST}:8081/", timeout=1) is None


def test_two_containers_reach_each_other(host, net):
    a, b = host.netns("a"), host.netns("b")
    lease_a = net.attach("a", a.path)
    lease_b = net.attach("b", b.path)
    host.serve(a, 80, "I am a")
    host.serve(b, 80, "I am b")
    assert fetch(b, f"http://{lease_a.address}/") == "I am a"
    assert fetch(a, f"http://{lease_b.address}/") == "I am b"


def test_lease_describes_the_container_interface(host, net):
    ctr = host.netns("c")
    lease = net.attach("c", ctr.path)
    assert (lease.address, lease.gateway, lease.prefix) == ("10.88.0.2", "10.88.0.1", 16)
    eth0 = ctr.run("ip", "-o", "link", "show", "eth0").stdout
    assert lease.mac in eth0 and "UP" in eth0
    assert f"inet {lease.address}/16" in ctr.addresses()
    assert "default via 10.88.0.1 dev eth0" in ctr.run("ip", "route").stdout
    assert "LOOPBACK,UP" in ctr.run("ip", "-o", "link", "show", "lo").stdout
    assert "02:42:0a:58:00:01" in sh("ip", "-o", "link", "show", "pybox0").stdout  # stays put


def test_detach_removes_veth_rules_and_lease(host, net):
    ctr = host.netns("c")
    lease = net.attach("c", ctr.path, ports=[("0.0.0.0", 8080, 80, "tcp"), ("0.0.0.0", 5353, 53, "udp")])
    assert lease.veth in links() and net.table.published() == {"c": 2}
    assert net.detach("c") is True
    assert lease.veth not in links()
    assert "eth0" not in ctr.run("ip", "-o", "link").stdout
    assert net.table.published() == {} and net.leases() == {}
    assert net.detach("c") is False


def test_clashing_port_is_refused_and_leaves_nothing(host, net):
    a, b = host.netns("a"), host.netns("b")
    net.attach("a", a.path, ports=[("0.0.0.0", 8080, 80, "tcp")])
    with pytest.raises(PyboxError, match="8080/tcp is already published by container a"):
        net.attach("b", b.path, ports=[("127.0.0.1", 8080, 80, "tcp")])
    net.attach("b", b.path, ports=[("0.0.0.0", 8080, 80, "udp")])  # other protocol: fine
    assert sorted(net.leases()) == ["a", "b"]


def test_failed_attach_undoes_itself(host, net):
    ctr = host.netns("c")
    ctr.run("ip", "link", "add", "eth0", "type", "veth", "peer", "eth1")  # the container end's name
    with pytest.raises(PyboxError, match="attach c to pybox0"):
        net.attach("c", ctr.path, ports=[("0.0.0.0", 8080, 80, "tcp")])
    assert net.leases() == {} and bridge_ports() == 0
    assert net.table.published() == {}


def test_bad_input_is_a_one_line_error(net, tmp_path):
    with pytest.raises(PyboxError, match="network namespace .*No such file"):
        net.attach("c", str(tmp_path / "nope"))
    with pytest.raises(PyboxError, match="container id"):
        net.attach("x" * 129, str(tmp_path))
    with pytest.raises(PyboxError, match="publish"):
        net.attach("c", str(tmp_path), ports=[("0.0.0.0", 0, 80, "tcp")])
    with pytest.raises(PyboxError, match="bridge name"):
        Network(bridge="a-very-long-bridge-name")
    with pytest.raises(PyboxError, match="subnet"):
        Network(subnet="10.0.0.0/33")
    assert net.leases() == {}


def test_leases_of_dead_containers_are_reclaimed(host, tmp_path):
    net = Network(state_dir=str(tmp_path / "net"), subnet="10.99.0.0/29")  # 5 container addresses
    sleepers = [subprocess.Popen(["unshare", "--net", "sleep", "60"]) for _ in range(6)]
    try:
        for i, proc in enumerate(sleepers[:5]):
            wait_for_own_netns(proc.pid)
            net.attach(f"c{i}", proc.pid, ports=[("0.0.0.0", 9000 + i, 80, "tcp")])
        wait_for_own_netns(sleepers[5].pid)
        with pytest.raises(PyboxError, match="no free address left in 10.99.0.0/29"):
            net.attach("c5", sleepers[5].pid)
        sleepers[2].kill()
        sleepers[2].wait()
        lease = net.attach("c5", sleepers[5].pid, ports=[("0.0.0.0", 9002, 80, "tcp")])
        assert lease.address == "10.99.0.4"  # c2's, free again
        assert "c2" not in net.leases() and "c2" not in net.table.published()
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
        net.teardown()
    assert net.leases() == {} and "pybox0" not in links()


def wait_for_own_netns(pid):
    """unshare has replaced itself by sleep once its namespace differs from ours."""
    for _ in range(200):
        if os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/thread-self/ns/net"):
            if os.readlink(f"/proc/{pid}/exe").endswith("sleep"):
                return
        subprocess.run(["sleep", "0.01"])
    raise AssertionError(f"process {pid} never got its own network namespace")


CRASH_POINTS = ["allocate", "plug", "configure", "publish"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_detach_after_attach_was_killed_midway(host, net, point):
    ctr = host.netns("c")
    pid = os.fork()
    if pid == 0:
        attach_and_die(net, ctr.path, point)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert "c" in net.leases()
    assert bridge_ports() == (point != "allocate")
    assert net.table.published() == ({"c": 1} if point == "publish" else {})
    net.detach("c")
    assert net.leases() == {} and bridge_ports() == 0 and net.table.published() == {}
    assert "eth0" not in ctr.run("ip", "-o", "link").stdout
    assert net.attach("again", ctr.path).address  # the lock died with the process


def attach_and_die(net, path, point):
    """In a forked child: attach, but SIGKILL ourselves right after step `point`."""
    try:
        from pybox.netns import links, network

        def die_after(module, name, when=lambda *args: True):
            original = getattr(module, name)

            def wrapper(*args, **kwargs):
                result = original(*args, **kwargs)
                if when(*args):
                    os.kill(os.getpid(), signal.SIGKILL)
                return result
            setattr(module, name, wrapper)

        if point == "allocate":
            net._plumb = lambda lease: os.kill(os.getpid(), signal.SIGKILL)
        elif point == "publish":
            die_after(network.nft, "run", lambda commands: "'comment'" in str(commands))
        else:
            die_after(links, {"plug": "plug", "configure": "configure_container"}[point])
        net.attach("c", path, ports=[("0.0.0.0", 8080, 80, "tcp")])
    finally:
        os._exit(3)


def test_loopback_up_without_netlink(host):
    bare = host.netns("bare")
    bare.run("ip", "link", "set", "lo", "down")
    code = ("import sys; from pybox.netns import loopback_up; "
            f"loopback_up({bare.path!r}); print(sorted(m for m in sys.modules if 'rtnl' in m "
            "or 'pyroute2' in m or 'nft' in m))")
    assert sh(sys.executable, "-c", code).stdout.strip() == "[]"
    assert "LOOPBACK,UP" in bare.run("ip", "-o", "link", "show", "lo").stdout
    loopback_up(bare.path)  # already up: nothing to do


def test_attaches_killed_at_random_moments_leave_nothing_after_detach(host, net):
    import random
    import time

    namespaces = [host.netns(f"r{i}", lo_up=False) for i in range(8)]
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            try:
                for i, ns in enumerate(namespaces):
                    net.attach(f"r{i}", ns.path, ports=[("0.0.0.0", 7000 + i, 80, "tcp")])
            finally:
                os._exit(0)
        time.sleep(random.uniform(0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for cid in net.leases():
            net.detach(cid)
        assert net.leases() == {} and bridge_ports() == 0 and net.table.published() == {}
        assert " pb" not in links()
        for ns in namespaces:
            assert "eth0" not in ns.run("ip", "-o", "link").stdout


UDP_ECHO = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind(('0.0.0.0', 53)); print('ready', flush=True)\n"
            "while True:\n data, peer = s.recvfrom(100); s.sendto(b'pong ' + data, peer)")


def test_published_udp_port(host, net):
    import socket

    host.internet()
    dns = host.netns("dns")
    net.attach("dns", dns.path, ports=[("0.0.0.0", 5353, 53, "udp")])
    server = subprocess.Popen(["nsenter", f"--net={dns.path}", sys.executable, "-c", UDP_ECHO],
                              stdout=subprocess.PIPE, text=True)
    host.processes.append(server)
    assert server.stdout.readline() == "ready\n"
    for address in ("127.0.0.1", WAN_HOST):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            client.sendto(b"ping", (address, 5353))
            assert client.recvfrom(100)[0] == b"pong ping"
