"""Benchmark: pybox pull+unpack vs skopeo copy + umoci unpack vs podman pull, one run each.

The same image (three gzip layers made from this machine's /usr) is served by a local
docker-registry; every tool starts from an empty store. Run as root:
    /opt/pybox/bin/python -m integration.bench_images
"""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from integration.registry import RegistryServer, skopeo_push

PYBOX = os.path.join(os.path.dirname(sys.executable), "pybox")
SOURCES = ["usr/lib/python3.11", "usr/share/perl", "usr/bin"]


def build_layout(path):
    os.makedirs(os.path.join(path, "blobs", "sha256"))

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(path, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}
    layers, diff_ids = [], []
    for source in [s for s in SOURCES if os.path.isdir("/" + s)]:
        tar = subprocess.run(["tar", "-C", "/", "--numeric-owner", "-cf", "-", source],
                             capture_output=True, check=True).stdout
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       **blob(gzip.compress(tar, compresslevel=6))})
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **blob(json.dumps(config).encode())}, "layers": layers}
    desc = {"mediaType": manifest["mediaType"], **blob(json.dumps(manifest).encode()),
            "annotations": {"org.opencontainers.image.ref.name": "bench"}}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return sum(layer["size"] for layer in layers), sum(1 for _ in layers)


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return time.perf_counter() - start


def bench_pybox(ref, work):
    env = dict(os.environ, PYBOX_STORAGE=os.path.join(work, "pybox"))
    return timed([PYBOX, "pull", "-q", ref], env=env)


def bench_skopeo_umoci(ref, work):
    layout, bundle = os.path.join(work, "oci"), os.path.join(work, "bundle")
    return (timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                   f"oci:{layout}:bench"])
            + timed(["umoci", "unpack", "--image", f"{layout}:bench", bundle]))


def bench_podman(ref, work):
    root, runroot = os.path.join(work, "podman"), os.path.join(work, "podman-run")
    base = ["podman", "--root", root, "--runroot", runroot, "--storage-driver", "overlay"]
    try:
        return timed(base + ["pull", "-q", "--tls-verify=false", ref])
    finally:
        subprocess.run(base + ["system", "reset", "-f"], capture_output=True)


def main():
    work = tempfile.mkdtemp(prefix="pybox-bench-")
    registry = None
    try:
        size, count = build_layout(os.path.join(work, "layout"))
        registry = RegistryServer(os.path.join(work, "registry"))
        ref = f"{registry.host}/bench/usr:latest"
        skopeo_push(os.path.join(work, "layout"), "bench", ref)
        print(f"image: {count} gzip layers, {size / 1e6:.1f} MB compressed, from /usr")
        results = {"pybox pull": bench_pybox(ref, work),
                   "skopeo copy + umoci unpack": bench_skopeo_umoci(ref, work)}
        if shutil.which("podman"):
            results["podman pull"] = bench_podman(ref, work)
        else:
            print("podman: not installed, skipped")
        ours = results["pybox pull"]
        for name, seconds in results.items():
            ratio = "" if name == "pybox pull" else f"   pybox/{name.split()[0]} = {ours / seconds:.2f}"
            print(f"{name:28} {seconds:7.2f} s{ratio}")
    finally:
        if registry:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
