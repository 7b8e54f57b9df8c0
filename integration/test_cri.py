"""Kubernetes' path: the calls kubelet makes, through containerd's CRI plugin, with pybox as the runtime.

Each scenario runs with RuntimeClass handler `pybox` (containerd's runc v2 shim running pybox-runc)
and, for comparison, `runc` (the same shim running Debian's runc), against one private containerd
(integration/cri.py). Select the tier with `-m cri`.
"""

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
