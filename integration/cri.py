"""A private containerd with its CRI plugin, for the CRI tier (integration/test_cri.py).

containerd runs in a network and mount namespace that this module creates (`unshare --net --mount`):
CNI's bridge, the pods' network namespaces, the shims' sockets (a tmpfs over /run) and CNI's cache
(a tmpfs over /var/lib/cni) exist only there, so nothing is shared with the host or another containerd.
Root, state, config, gRPC socket, CNI config, host-local's leases and the pods' logs live in one
temporary directory. Every pod's cgroup parent is below this process's own cgroup.
"""

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid

import grpc
from cri_api.v1 import api_pb2 as api
from cri_api.v1 import api_pb2_grpc

from integration.conftest import PYBOX_RUNC

# The runc-compatible binary containerd's shim runs for handler `pybox`: one place to change it.
RUNTIME_BINARY = PYBOX_RUNC
HANDLERS = {"pybox": RUNTIME_BINARY, "runc": shutil.which("runc") or "/usr/sbin/runc"}

BUSYBOX_IMAGE = "localhost/pybox-cri-busybox:1"
PAUSE_IMAGE = "localhost/pybox-cri-pause:1"
BAD_ENTRYPOINT_IMAGE = "localhost/pybox-cri-bad-entrypoint:1"
BRIDGE = "cni-pybox0"
SUBNET = "10.88.77.0/24"
RPC_TIMEOUT = 60


def own_memory_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.strip().split(":", 2)
            if "memory" in controllers.split(","):
                return path.rstrip("/")
    raise RuntimeError("no memory cgroup in /proc/self/cgroup")


CGROUP_PARENT = f"{own_memory_cgroup()}/pybox-cri"

# CRI plugin configuration: what the README gives operators, with every path private to the tier.
CONFIG = """version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # This machine lacks CAP_SYS_RESOURCE: without it every pod fails (runc's too).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
{runtimes}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{base}/cni"
"""

RUNTIME = """    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
        BinaryName = "{binary}"
        SystemdCgroup = false
"""

# Run by `unshare --net --mount --propagation private`: private /run (shim sockets, runc roots)
# and /var/lib/cni (go-cni's result cache), loopback up (the stream server listens there).
START = """set -e
mount -t tmpfs -o mode=0755 pybox-cri-run /run
if [ -d /var/lib/cni ]; then mount -t tmpfs pybox-cri-cni /var/lib/cni
else mount -t tmpfs -o mode=0755 pybox-cri-varlib /var/lib; mkdir /var/lib/cni; fi
ip link set lo up
exec containerd --config "$1" --log-level warn
"""


def oci_archive(path, name, layer_files, config):
    """An OCI image layout archive holding one image: `layer_files` maps tar names to (host path or
    bytes, mode); `config` is the image's runtime config (Entrypoint, Cmd, Env...)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for arcname, (source, mode) in layer_files.items():
            if isinstance(source, str) and os.path.isdir(source):
                tar.add(source, arcname=arcname)
                continue
            data = open(source, "rb").read() if isinstance(source, str) else source
            info = tarfile.TarInfo(arcname)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    layer = layer.getvalue()
    blobs = {}

    def blob(data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    layer_desc = blob(layer, "application/vnd.oci.image.layer.v1.tar")
    image_config = {"architecture": "amd64", "os": "linux", "config": config,
                    "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}
    config_desc = blob(json.dumps(image_config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
    index = {"schemaVersion": 2, "manifests": [manifest_desc]}
    with tarfile.open(path, "w") as tar:
        files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
                 "index.json": json.dumps(index).encode()}
        files.update({f"blobs/sha256/{d.split(':')[1]}": data for d, data in blobs.items()})
        for arcname, data in files.items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


PATH_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def build_images(base, busybox_rootfs):
    return [
        oci_archive(f"{base}/busybox.tar", BUSYBOX_IMAGE, {".": (busybox_rootfs, 0)},
                    {"Env": PATH_ENV, "Cmd": ["sh"]}),
        # catatonit's pause mode: the sandbox image, made here, so no registry is needed.
        oci_archive(f"{base}/pause.tar", PAUSE_IMAGE, {"catatonit": ("/usr/bin/catatonit", 0o755)},
                    {"Env": PATH_ENV, "Entrypoint": ["/catatonit", "-P"]}),
        # An entrypoint that is not executable.
        oci_archive(f"{base}/bad.tar", BAD_ENTRYPOINT_IMAGE, {".": (busybox_rootfs, 0)},
                    {"Env": PATH_ENV, "Entrypoint": ["/etc/passwd"]}),
    ]


def cgroup_dirs(relative=""):
    """The tier's cgroup parent in every hierarchy."""
    found = []
    for name in os.listdir("/sys/fs/cgroup"):
        d = os.path.normpath(f"/sys/fs/cgroup/{name}{CGROUP_PARENT}/{relative}")
        if os.path.isdir(d):
            found.append(d)
    return found


def kill_cgroup_tree(top):
    for d, _, _ in os.walk(top):
        try:
            with open(f"{d}/cgroup.procs") as f:
                for pid in f.read().split():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def remove_cgroup_tree(top):
    for d, _, _ in sorted(os.walk(top), key=lambda entry: len(entry[0]), reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


class Containerd:
    """The private containerd; `rt` and `img` are CRI's RuntimeService and ImageService."""

    def __init__(self, base, busybox_rootfs):
        self.base = str(base)
        for d in ("cni", "logs", "ipam"):
            os.makedirs(f"{self.base}/{d}")
        with open(f"{self.base}/cni/10-pybox.conflist", "w") as f:
            json.dump({"cniVersion": "0.4.0", "name": "pybox-cri", "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]], "dataDir": f"{self.base}/ipam"}}]},
                f)
        runtimes = "".join(RUNTIME.format(name=n, binary=b) for n, b in HANDLERS.items())
        self.config = f"{self.base}/config.toml"
        with open(self.config, "w") as f:
            f.write(CONFIG.format(base=self.base, pause=PAUSE_IMAGE, runtimes=runtimes))
        self.log = open(f"{self.base}/containerd.log", "wb")
        self.daemon = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", START, "sh", self.config],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.channel = grpc.insecure_channel(f"unix://{self.base}/containerd.sock")
        self.rt = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.img = api_pb2_grpc.ImageServiceStub(self.channel)
        try:
            self.wait_ready(busybox_rootfs)
        except BaseException:
            self.close()
            raise

    def wait_ready(self, busybox_rootfs):
        deadline = time.monotonic() + 30
        while True:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"containerd exited {self.daemon.returncode}: {self.log_text()}")
            try:
                self.rt.Version(api.VersionRequest(), timeout=2)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"containerd's CRI did not answer in 30 s: {self.log_text()}") from None
                time.sleep(0.1)
        self.ns = os.readlink(f"/proc/{self.daemon.pid}/ns/net")
        for archive in build_images(self.base, busybox_rootfs):
            self.ctr("images", "import", archive)

    def log_text(self):
        with open(f"{self.base}/containerd.log", errors="replace") as f:
            return f.read()[-3000:]

    def ctr(self, *args):
        result = subprocess.run(["ctr", "--address", f"{self.base}/containerd.sock", "--namespace", "k8s.io",
                                 *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {result.stderr}")
        return result.stdout

    def in_netns(self, *argv, timeout=30):
        """Run argv in containerd's network namespace (where CNI's bridge is)."""
        return subprocess.run(["nsenter", f"--net=/proc/{self.daemon.pid}/ns/net", *argv], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def stream(self, url):
        """What the stream server's websocket at url sends: {1: stdout, 2: stderr, 3: status}."""
        result = self.in_netns(sys.executable, "-c", STREAM_CLIENT, url, timeout=60)
        assert result.returncode == 0, result.stderr
        return {int(k): v for k, v in json.loads(result.stdout).items()}

    def remove_all_pods(self):
        for pod in self.rt.ListPodSandbox(api.ListPodSandboxRequest(), timeout=RPC_TIMEOUT).items:
            try:
                self.rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=pod.id), timeout=RPC_TIMEOUT)
                self.rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=pod.id), timeout=RPC_TIMEOUT)
            except grpc.RpcError:
                pass

    def close(self):
        try:
            self.remove_all_pods()
        except grpc.RpcError:
            pass
        self.channel.close()
        # Whatever is left (shims, containers): every process in containerd's mount namespace
        # or in the pods' cgroups, by pid.
        mnt = self.daemon.poll() is None and os.readlink(f"/proc/{self.daemon.pid}/ns/mnt")
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(timeout=10)
        if mnt:
            for pid in os.listdir("/proc"):
                try:
                    if pid.isdigit() and os.readlink(f"/proc/{pid}/ns/mnt") == mnt:
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        for d in cgroup_dirs():
            kill_cgroup_tree(d)
        deadline = time.monotonic() + 10
        while any(os.path.isdir(d) for d in cgroup_dirs()) and time.monotonic() < deadline:
            for d in cgroup_dirs():
                remove_cgroup_tree(d)
            time.sleep(0.1)
        self.log.close()


# kubelet's default: network and IPC shared by the pod, a pid namespace per container.
KUBELET_NAMESPACES = api.NamespaceOption(network=api.POD, ipc=api.POD, pid=api.CONTAINER)


# A websocket client for the stream server's URL (kubelet's remotecommand protocol v4.channel.k8s.io):
# prints what arrives on channels 1 (stdout), 2 (stderr) and 3 (status), as JSON. The stream server
# listens on 127.0.0.1 in containerd's network namespace, so this runs there.
STREAM_CLIENT = r"""
import base64, json, os, socket, struct, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
sock = socket.create_connection((url.hostname, url.port), timeout=20)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
f = sock.makefile("rb")
status = f.readline()
assert b" 101 " in status, status
while f.readline() not in (b"\r\n", b""):
    pass
out = {1: b"", 2: b"", 3: b""}
while True:
    head = f.read(2)
    if len(head) < 2:
        break
    opcode, size = head[0] & 0x0F, head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", f.read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", f.read(8))[0]
    payload = f.read(size)
    if opcode == 8:
        break
    if payload and payload[0] in out:
        out[payload[0]] += payload[1:]
print(json.dumps({str(k): v.decode(errors="replace") for k, v in out.items()}))
"""


def pod_config(base, name, **linux):
    uid = uuid.uuid4().hex
    logs = f"{base}/logs/{name}_{uid}"
    os.makedirs(logs)
    return api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace="default", attempt=0),
        hostname=name, log_directory=logs, labels={"app": name, "tier": "cri"},
        annotations={"pybox.test": name},
        dns_config=api.DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"],
                                 options=["ndots:5"]),
        linux=api.LinuxPodSandboxConfig(cgroup_parent=f"{CGROUP_PARENT}/{name}-{uid[:8]}",
                                        security_context=api.LinuxSandboxSecurityContext(
                                            namespace_options=KUBELET_NAMESPACES), **linux))


def container_config(name, command, image=BUSYBOX_IMAGE, linux=None, **kw):
    linux = linux or api.LinuxContainerConfig()
    # kubelet repeats the pod's namespace options in every container's security context.
    linux.security_context.namespace_options.CopyFrom(KUBELET_NAMESPACES)
    return api.ContainerConfig(metadata=api.ContainerMetadata(name=name), image=api.ImageSpec(image=image),
                               command=command, log_path=f"{name}.log", linux=linux, **kw)
