"""Benchmark: pybox pull+unpack vs skopeo copy + umoci unpack vs podman pull, one run each.

The same images are served by a local docker-registry: a big one (three gzip layers made from
this machine's /usr) and a small one (busybox); every tool starts from an empty store, so the
small image shows start-up costs. Run as root:
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


def build_layout(path, sources=SOURCES):
    os.makedirs(os.path.join(path, "blobs", "sha256"))

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(path, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}
    layers, diff_ids = [], []
    for source in sources:
        tar = _tar(source)
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


def _tar(source):
    """A layer: a directory of this machine, or a callable writing a tar file."""
    if callable(source):
        with tempfile.NamedTemporaryFile() as f:
            source(f.name)
            return f.read()
    return subprocess.run(["tar", "-C", "/", "--numeric-owner", "-cf", "-", source],
                          capture_output=True, check=True).stdout


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


def run_all(ref, work, repeats=1):
    """Median of `repeats` pulls into fresh stores, per tool."""
    import statistics
    tools = {"pybox pull": bench_pybox, "skopeo copy + umoci unpack": bench_skopeo_umoci}
    if shutil.which("podman"):
        tools["podman pull"] = bench_podman
    results = {}
    for name, bench in tools.items():
        times = []
        for i in range(repeats):
            fresh = os.path.join(work, f"{name[:2]}{i}")  # short: podman puts sockets below
            os.makedirs(fresh)
            times.append(bench(ref, fresh))
        results[name] = statistics.median(times)
    ours = results["pybox pull"]
    for name, seconds in results.items():
        ratio = "" if name == "pybox pull" else f"   pybox/{name.split()[0]} = {ours / seconds:.2f}"
        print(f"  {name:28} {seconds:7.2f} s{ratio}")


def main():
    from pybox.images.busybox import write_rootfs_tar
    work = tempfile.mkdtemp(prefix="pybox-bench-")
    registry = None
    images = {"usr": [s for s in SOURCES if os.path.isdir("/" + s)], "busybox": [write_rootfs_tar]}
    try:
        registry = RegistryServer(os.path.join(work, "registry"))
        if not shutil.which("podman"):
            print("podman: not installed, skipped")
        for name, sources in images.items():
            layout = os.path.join(work, f"layout-{name}")
            size, count = build_layout(layout, sources)
            ref = f"{registry.host}/bench/{name}:latest"
            skopeo_push(layout, "bench", ref)
            print(f"image {name}: {count} gzip layers, {size / 1e6:.1f} MB compressed")
            # The small image is over in a fraction of a second: take the median of several.
            run_all(ref, os.path.join(work, name), repeats=1 if name == "usr" else 7)
    finally:
        if registry:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
