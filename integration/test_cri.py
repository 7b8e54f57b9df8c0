"""Kubernetes' path: the calls kubelet makes, through containerd's CRI plugin, with pybox as the runtime.

Each scenario runs with RuntimeClass handler `pybox` (containerd's runc v2 shim running pybox-runc)
and, for comparison, `runc` (the same shim running Debian's runc), against one private containerd
(integration/cri.py). Select the tier with `-m cri`.
"""

import json
import os
import shutil
import subprocess
import time

import grpc
import pytest
from cri_api.v1 import api_pb2 as api

from integration.cri import (BAD_ENTRYPOINT_IMAGE, BRIDGE, RPC_TIMEOUT, SUBNET, Containerd, cgroup_dirs,
                             container_config, pod_config)

pytestmark = pytest.mark.cri

if not (shutil.which("containerd") and os.path.exists("/usr/lib/cni/bridge") and os.path.exists("/usr/bin/catatonit")):
    pytest.skip("containerd, containernetworking-plugins and catatonit are needed", allow_module_level=True)


@pytest.fixture(scope="module")
def cri(tmp_path_factory, busybox_rootfs):
    daemon = Containerd(tmp_path_factory.mktemp("cri"), busybox_rootfs)
    yield daemon
    daemon.close()


@pytest.fixture(params=["pybox", "runc"])
def handler(request):
    return request.param


class Pod:
    """One pod sandbox on `handler`; its containers are created, started and read through CRI."""

    def __init__(self, cri, handler, name, **linux):
        self.cri, self.rt = cri, cri.rt
        self.config = pod_config(cri.base, name, **linux)
        self.id = self.rt.RunPodSandbox(api.RunPodSandboxRequest(config=self.config, runtime_handler=handler),
                                        timeout=RPC_TIMEOUT).pod_sandbox_id

    def status(self):
        return self.rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=self.id),
                                        timeout=RPC_TIMEOUT).status

    def create(self, name, command, **kw):
        return self.rt.CreateContainer(api.CreateContainerRequest(
            pod_sandbox_id=self.id, config=container_config(name, command, **kw), sandbox_config=self.config),
            timeout=RPC_TIMEOUT).container_id

    def run(self, name, command, **kw):
        cid = self.create(name, command, **kw)
        self.rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=RPC_TIMEOUT)
        return cid

    def container(self, cid):
        return self.rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=RPC_TIMEOUT).status

    def wait_exit(self, cid, timeout=30):
        deadline = time.monotonic() + timeout
        while (status := self.container(cid)).state != api.CONTAINER_EXITED:
            assert time.monotonic() < deadline, f"container {cid} still {status.state} after {timeout} s"
            time.sleep(0.1)
        return status

    def exec(self, cid, *cmd, timeout=10):
        return self.rt.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=timeout),
                                timeout=timeout + RPC_TIMEOUT)

    def sh(self, cid, script):
        result = self.exec(cid, "sh", "-c", script)
        assert result.exit_code == 0, result.stderr.decode()
        return result.stdout.decode()

    def remove(self):
        self.rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=self.id), timeout=RPC_TIMEOUT)
        self.rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=self.id), timeout=RPC_TIMEOUT)


@pytest.fixture
def pod(cri, handler, request):
    made = []

    def make(name="p", **linux):
        made.append(Pod(cri, handler, f"{request.node.name.split('[')[0][5:20].replace('_', '-')}-{name}", **linux))
        return made[-1]
    yield make
    for p in made:
        p.remove()


SLEEP = ["sleep", "1000"]


def test_pod_sandbox_lifecycle(cri, handler, pod):
    p = pod()
    status = p.status()
    assert status.state == api.SANDBOX_READY
    assert status.network.ip.startswith(SUBNET.rsplit(".", 1)[0] + ".")
    assert status.labels["app"] == p.config.metadata.name
    assert p.id in [s.id for s in cri.rt.ListPodSandbox(api.ListPodSandboxRequest(
        filter=api.PodSandboxFilter(label_selector={"app": p.config.metadata.name})), timeout=RPC_TIMEOUT).items]
    cid = p.run("c", SLEEP)
    assert p.sh(cid, "hostname").strip() == p.config.hostname
    resolv = p.sh(cid, "cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in resolv and "search default.svc.cluster.local" in resolv and "ndots:5" in resolv
    # The pod's address is on the container's eth0, and the bridge (the pod's gateway) answers it.
    assert status.network.ip in p.sh(cid, "ip -4 addr show eth0")
    assert p.sh(cid, f"ping -c 1 -W 5 {SUBNET.rsplit('.', 1)[0]}.1 >/dev/null && echo ok").strip() == "ok"
    # Every pod cgroup is below the tier's own cgroup.
    parent = p.config.linux.cgroup_parent
    assert any(os.path.isdir(f"{d}/{os.path.basename(parent)}") for d in cgroup_dirs())
    p.rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=p.id), timeout=RPC_TIMEOUT)
    assert p.status().state == api.SANDBOX_NOTREADY
    p.rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=p.id), timeout=RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError):
        p.status()
    # Nothing left: no container processes in the pod's cgroup, no netns, no lease.
    for d in cgroup_dirs(os.path.basename(parent)):
        for top, _, _ in os.walk(d):
            assert open(f"{top}/cgroup.procs").read() == "", top
    assert os.listdir(f"{cri.base}/state/io.containerd.grpc.v1.cri/netns") == []
    leases = [f for f in os.listdir(f"{cri.base}/ipam/pybox-cri") if f[0].isdigit()]
    assert leases == []
    p.remove = lambda: None


def test_cni_bridge_is_only_in_the_tiers_namespace(cri):
    """The CNI bridge exists in containerd's private network namespace, never in the host's."""
    assert cri.in_netns("ip", "link", "show", BRIDGE).returncode == 0
    assert subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True, timeout=30).returncode != 0
    assert cri.ns != os.readlink("/proc/self/ns/net")


def test_two_containers_share_the_pods_network_and_ipc(cri, handler, pod, tmp_path):
    p = pod()
    web = p.run("web", ["sh", "-c", "mkdir /www && echo from-web > /www/x && exec httpd -f -p 127.0.0.1:8080 -h /www"])
    client = p.run("client", SLEEP)
    deadline = time.monotonic() + 10
    while (got := p.exec(client, "wget", "-qO-", "http://127.0.0.1:8080/x")).exit_code != 0:
        assert time.monotonic() < deadline, got.stderr
        time.sleep(0.2)
    assert got.stdout == b"from-web\n"
    for ns in ("net", "ipc", "uts"):
        assert p.sh(web, f"readlink /proc/self/ns/{ns}") == p.sh(client, f"readlink /proc/self/ns/{ns}")
    # Each container has its own pid namespace (the CRI default, NamespaceMode CONTAINER).
    assert p.sh(client, "readlink /proc/self/ns/pid") != p.sh(web, "readlink /proc/self/ns/pid")


def test_create_container_with_env_mounts_user_resources_and_security_context(cri, handler, pod, tmp_path):
    shared, ro = tmp_path / "shared", tmp_path / "ro"
    shared.mkdir()
    ro.mkdir()
    (ro / "f").write_text("read-only data\n")
    os.chmod(shared, 0o777)
    p = pod()
    security = api.LinuxContainerSecurityContext(
        readonly_rootfs=True, privileged=False, run_as_user=api.Int64Value(value=1000), no_new_privs=True,
        capabilities=api.Capability(add_capabilities=["NET_RAW"], drop_capabilities=["ALL"]),
        seccomp=api.SecurityProfile(profile_type=api.SecurityProfile.RuntimeDefault))
    resources = api.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512, cpu_quota=50000,
                                            cpu_period=100000)
    cid = p.run("c", SLEEP, envs=[api.KeyValue(key="GREETING", value="hello pod")], working_dir="/tmp",
                mounts=[api.Mount(container_path="/shared", host_path=str(shared)),
                        api.Mount(container_path="/ro", host_path=str(ro), readonly=True)],
                linux=api.LinuxContainerConfig(resources=resources, security_context=security))
    assert p.sh(cid, "echo $GREETING; pwd; id -u").split("\n")[:3] == ["hello pod", "/tmp", "1000"]
    p.sh(cid, "echo from-container > /shared/out")
    assert (shared / "out").read_text() == "from-container\n"
    assert p.sh(cid, "cat /ro/f") == "read-only data\n"
    assert p.exec(cid, "sh", "-c", "echo x > /ro/g").exit_code != 0
    assert p.exec(cid, "sh", "-c", "echo x > /etc/x").exit_code != 0, "root filesystem is read-only"
    status = p.sh(cid, "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    fields = dict(line.split(":\t") for line in status.strip().split("\n"))
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    assert int(fields["CapBnd"], 16) == 1 << 13, "only CAP_NET_RAW (13) is bounded"
    assert p.sh(cid, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").strip() == str(64 << 20)
    assert p.sh(cid, "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us").split() == ["512", "50000"]


def test_container_status_reports_exit_code_and_oom_killed(cri, handler, pod):
    p = pod()
    done = p.run("done", ["sh", "-c", "exit 3"])
    status = p.wait_exit(done)
    assert (status.exit_code, status.reason) == (3, "Error")
    ok = p.run("ok", ["true"])
    assert (p.wait_exit(ok).exit_code, p.container(ok).reason) == (0, "Completed")
    hog = p.run("hog", ["tail", "/dev/zero"],
                linux=api.LinuxContainerConfig(resources=api.LinuxContainerResources(memory_limit_in_bytes=16 << 20)))
    status = p.wait_exit(hog)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


def test_exec_sync_and_logs_in_cri_format(cri, handler, pod):
    p = pod()
    cid = p.run("c", ["sh", "-c", "echo out-1; echo err-1 >&2; while sleep 0.2; do [ -e /tmp/more ] && "
                      "{ echo out-2; rm /tmp/more; }; done"])
    result = p.exec(cid, "sh", "-c", "echo to-out; echo to-err >&2; exit 5")
    assert (result.stdout, result.stderr, result.exit_code) == (b"to-out\n", b"to-err\n", 5)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        p.exec(cid, "sleep", "30", timeout=1)
    assert time.monotonic() - started < 15
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED or "timeout" in err.value.details()
    log = os.path.join(p.config.log_directory, "c.log")
    deadline = time.monotonic() + 10
    while len(open(log).read().splitlines()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    lines = sorted(line.split(" ", 1)[1] for line in open(log).read().splitlines())
    assert lines == ["stderr F err-1", "stdout F out-1"]
    assert all(line.split(" ")[0].endswith("Z") and "T" in line for line in open(log))
    # ReopenContainerLog: after the log is rotated away, the next line goes into a new file.
    os.rename(log, log + ".1")
    cri.rt.ReopenContainerLog(api.ReopenContainerLogRequest(container_id=cid), timeout=RPC_TIMEOUT)
    p.sh(cid, "touch /tmp/more")
    deadline = time.monotonic() + 10
    while not (os.path.exists(log) and "out-2" in open(log).read()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "out-2" not in open(log + ".1").read()


def test_container_stats_and_update_resources(cri, handler, pod):
    p = pod()
    cid = p.run("c", ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=4 2>/dev/null; "
                      "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000"],
                linux=api.LinuxContainerConfig(resources=api.LinuxContainerResources(memory_limit_in_bytes=64 << 20)))
    deadline = time.monotonic() + 20
    while True:
        stats = cri.rt.ContainerStats(api.ContainerStatsRequest(container_id=cid), timeout=RPC_TIMEOUT).stats
        if stats.cpu.usage_core_nano_seconds.value and stats.writable_layer.used_bytes.value >= 4 << 20:
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.5)
    assert stats.memory.working_set_bytes.value > 0
    listed = cri.rt.ListContainerStats(api.ListContainerStatsRequest(
        filter=api.ContainerStatsFilter(pod_sandbox_id=p.id)), timeout=RPC_TIMEOUT).stats
    assert [s.attributes.id for s in listed] == [cid]
    cri.rt.UpdateContainerResources(api.UpdateContainerResourcesRequest(
        container_id=cid, linux=api.LinuxContainerResources(memory_limit_in_bytes=96 << 20, cpu_shares=256)),
        timeout=RPC_TIMEOUT)
    assert p.sh(cid, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares").split() == [
        str(96 << 20), "256"]


def test_stop_container_grace_period_and_remove(cri, handler, pod):
    p = pod()
    polite = p.run("polite", ["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])
    stubborn = p.run("stubborn", ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    time.sleep(0.5)
    started = time.monotonic()
    cri.rt.StopContainer(api.StopContainerRequest(container_id=polite, timeout=10), timeout=RPC_TIMEOUT)
    assert time.monotonic() - started < 5
    assert p.container(polite).exit_code == 7
    started = time.monotonic()
    cri.rt.StopContainer(api.StopContainerRequest(container_id=stubborn, timeout=2), timeout=RPC_TIMEOUT)
    assert 1.5 < time.monotonic() - started < 15
    assert p.container(stubborn).exit_code == 137
    for cid in (polite, stubborn):
        cri.rt.RemoveContainer(api.RemoveContainerRequest(container_id=cid), timeout=RPC_TIMEOUT)
    assert cri.rt.ListContainers(api.ListContainersRequest(
        filter=api.ContainerFilter(pod_sandbox_id=p.id)), timeout=RPC_TIMEOUT).containers == []


def test_bad_command_and_bad_entrypoint_errors_carry_the_runtimes_message(cri, handler, pod):
    p = pod()
    cid = p.create("missing", ["/no/such/binary"])
    with pytest.raises(grpc.RpcError) as err:
        cri.rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=RPC_TIMEOUT)
    # A path is not looked up in $PATH: both say it does not exist (pybox said "not found in $PATH").
    assert "/no/such/binary" in err.value.details() and "no such file or directory" in err.value.details()
    if handler == "pybox":  # the runtime's own one line, whole, in what kubelet shows
        assert f"create {cid}: exec '/no/such/binary': no such file or directory: unknown" in err.value.details()
    print(handler, "missing command:", err.value.details())
    cid = p.create("bad", [], image=BAD_ENTRYPOINT_IMAGE)
    with pytest.raises(grpc.RpcError) as err:
        cri.rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=RPC_TIMEOUT)
    assert "/etc/passwd" in err.value.details() and "permission denied" in err.value.details().lower()
    if handler == "pybox":
        assert f"create {cid}: exec '/etc/passwd': permission denied: unknown" in err.value.details()
    print(handler, "bad entrypoint:", err.value.details())


def test_twenty_pods_of_two_containers_leave_nothing_behind(cri, handler, pod):
    started = time.monotonic()
    for i in range(20):
        p = pod(f"n{i}")
        a = p.run("a", SLEEP)
        b = p.run("b", ["sh", "-c", "echo $((6*7))"])
        assert p.wait_exit(b).exit_code == 0
        assert p.sh(a, "echo ok") == "ok\n"
        p.remove()
        p.remove = lambda: None
    print(handler, f"20 pods: {time.monotonic() - started:.1f} s")
    assert cri.rt.ListPodSandbox(api.ListPodSandboxRequest(), timeout=RPC_TIMEOUT).items == []
    assert cri.rt.ListContainers(api.ListContainersRequest(), timeout=RPC_TIMEOUT).containers == []
    assert os.listdir(f"{cri.base}/state/io.containerd.grpc.v1.cri/netns") == []
    for d in cgroup_dirs():
        for top, _, _ in os.walk(d):
            assert open(f"{top}/cgroup.procs").read() == "", top


def test_exec_streams_through_containerds_stream_server(cri, handler, pod):
    """Exec (kubectl exec's path): CRI returns a URL of containerd's stream server, whose websocket
    carries stdout, stderr and the exit status."""
    p = pod()
    cid = p.run("c", SLEEP)
    url = cri.rt.Exec(api.ExecRequest(container_id=cid, cmd=["sh", "-c", "echo streamed; echo oops >&2; exit 4"],
                                      stdout=True, stderr=True), timeout=RPC_TIMEOUT).url
    got = cri.stream(url)
    assert (got[1], got[2]) == ("streamed\n", "oops\n")
    status = json.loads(got[3])
    assert status["status"] == "Failure" and status["details"]["causes"][0] == {"reason": "ExitCode", "message": "4"}
    url = cri.rt.Exec(api.ExecRequest(container_id=cid, cmd=["true"], stdout=True, stderr=True),
                      timeout=RPC_TIMEOUT).url
    assert json.loads(cri.stream(url)[3])["status"] == "Success"
