"""Benchmark: N detached containers started and removed through pybox's Python API, pybox-runc,
runc and crun, on the same busybox bundle, in one run. Prints containers per second.

    /opt/pybox/bin/python -m integration.bench_api [--count 100]

Each runtime starts N `sleep` containers (create + start), then removes them all (delete
--force); the containers' parent cgroup is made beforehand, as systemd or the kubelet provide
one. The API does it in this process, the others with one command per step.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from integration.bench_runtime import PYBOX, cgroup_parent, crun_prefix, make_bundle


def cli_runtime(cmd, root):
    def run(*args):
        subprocess.run([*cmd, "--root", root, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=60)

    def start_all(bundles, ids):
        for bundle, cid in zip(bundles, ids):
            run("create", "--bundle", bundle, cid)
            run("start", cid)

    def remove_all(ids):
        for cid in ids:
            run("delete", "--force", cid)
    return start_all, remove_all


def api_runtime(root):
    from pybox.runtime import api
    rt = api.Runtime(root=root)
    made = []

    def start_all(bundles, ids):
        with open(os.devnull, "r+") as null:
            for bundle, cid in zip(bundles, ids):
                c = rt.create(cid, bundle=bundle, stdio=(null.fileno(),) * 3)
                c.start()
                made.append(c)

    def remove_all(ids):
        for c in made:
            c.delete(force=True)
    return start_all, remove_all


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="pybox-bench-api-")
    runtimes = {"pybox API": None, "pybox-runc": [PYBOX]}
    if shutil.which("runc"):
        runtimes["runc"] = ["runc"]
    if shutil.which("crun"):
        runtimes["crun"] = [*crun_prefix(), "crun"]
    rows = []
    try:
        with cgroup_parent() as parent:
            first = make_bundle(base, f"{parent}/first", "first", ("true",))
            for i, (name, cmd) in enumerate(runtimes.items()):
                ids = [f"c{n}" for n in range(args.count)]
                # A cgroup each, one shared rootfs.
                bundles = [make_bundle(base, f"{parent}/r{i}-{cid}", f"b{i}-{cid}", ("sleep", "1000"),
                                       f"{first}/rootfs") for cid in ids]
                root = os.path.join(base, f"state{i}")
                start_all, remove_all = api_runtime(root) if cmd is None else cli_runtime(cmd, root)
                t0 = time.perf_counter()
                start_all(bundles, ids)
                t1 = time.perf_counter()
                remove_all(ids)
                t2 = time.perf_counter()
                rows.append((name, args.count / (t1 - t0), t2 - t1))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{args.count} detached sleep containers each; python {sys.version.split()[0]}, {os.uname().release}")
    print(f"{'':14}{'started/s':>12}{'remove all (s)':>16}")
    for name, rate, teardown in rows:
        print(f"{name:14}{rate:12.1f}{teardown:16.2f}")


if __name__ == "__main__":
    main()
