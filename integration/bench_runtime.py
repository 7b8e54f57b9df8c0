"""Benchmark: pybox against runc (and crun) on the same busybox bundle, in one run.

    python -m integration.bench_runtime [--runs 100] [--seccomp]

Prints medians and the ratio pybox/runc for: `run` of /bin/true, back to back and after 100 ms
of quiet (the kernel's first cgroup migration after a quiet spell waits out an RCU grace period);
create, start and delete separately; exec of /bin/true into a running container; the runtime's
peak RSS; the memory of a created, not yet started container. The runtimes take turns in blocks
of 10 runs, below a parent cgroup made beforehand in every hierarchy. crun 1.8.1 refuses hybrid
cgroup hosts, so it runs in a private mount namespace where the empty cgroup2 mount is hidden
(the host's mounts are untouched; `unshare` and `sh` add about 2 ms to each crun command). Not a
test: nothing is asserted.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from integration.busybox import build_rootfs
from pybox.engine.bench.runtimes import crun_prefix  # noqa: F401  (one copy: the bench tool's; bench_api uses it)
from pybox.runtime.defaults import default_spec

PYBOX = os.path.join(os.path.dirname(sys.executable), "pybox-runc")  # the runtime front end


def make_bundle(base, cgroups_path, name="bundle", args=("true",), rootfs=None, seccomp=False):
    """A bundle running args; rootfs: share another bundle's (absolute) instead of building one;
    seccomp: with Docker's default profile, as podman, containerd and `pybox run` give one."""
    bundle = os.path.join(base, name)
    os.makedirs(bundle)
    if rootfs is None:
        build_rootfs(os.path.join(bundle, "rootfs"))
    spec = default_spec()
    spec["process"].update(terminal=False, args=list(args))
    spec["root"]["path"] = rootfs or "rootfs"
    # Absolute, below this process's own (memory) cgroup: crun reads a relative path from the
    # hierarchy's root, runc and pybox from the caller's cgroup.
    spec["linux"]["cgroupsPath"] = cgroups_path
    spec["ociVersion"] = "1.0.2"  # crun 1.8.1 knows no later version
    if seccomp:
        from pybox.seccomp.default import default_profile
        spec["linux"]["seccomp"] = default_profile(spec["process"]["capabilities"]["bounding"])
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def own_memory_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.strip().split(":", 2)
            if controllers == "memory":
                return path.rstrip("/")
    return ""


def cgroup_dirs():
    found = set()
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        found.update(os.path.join(top, d) for d in dirs)
    return found


def hierarchies():
    """Where each cgroup hierarchy is mounted (v1 controllers, the v2 tree)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split(" - ")[1].split()[0] in ("cgroup", "cgroup2")]


def make_parent_cgroups(path):
    """The container cgroups' parent, in every hierarchy, as systemd or the kubelet provide one:
    each runtime then makes and removes only its container's cgroup. A v1 cpuset needs its
    parent's cpus and mems before a process may join below it."""
    for mount in hierarchies():
        directory = mount
        for part in path.strip("/").split("/"):
            parent, directory = directory, os.path.join(directory, part)
            if not os.path.isdir(directory):
                os.mkdir(directory)
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if os.path.exists(os.path.join(directory, name)):
                        with open(os.path.join(parent, name)) as f:
                            value = f.read()
                        with open(os.path.join(directory, name), "w") as f:
                            f.write(value)


@contextlib.contextmanager
def cgroup_parent():
    """Yields the parent path for the containers' cgroups; removes what was made below it."""
    before = cgroup_dirs()
    path = f"{own_memory_cgroup()}/pybox-bench"
    try:
        make_parent_cgroups(path)
        yield path
    finally:
        remove_new_cgroups(before, path)


def remove_new_cgroups(before, path):
    """What the bench and the runtimes made on `path` and below (runc leaves parents it made
    behind), never anyone else's cgroups."""
    wanted = path.strip("/")
    ours = []
    for directory in cgroup_dirs() - before:
        mount = max((m for m in hierarchies() if directory.startswith(m + "/")), key=len, default=None)
        rel = directory[len(mount) + 1:] if mount else ""
        if rel and (wanted.startswith(rel + "/") or rel == wanted or rel.startswith(wanted + "/")):
            ours.append(directory)
    for directory in sorted(ours, key=len, reverse=True):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def timed(argv):
    """Wall time of one command; output goes to /dev/null."""
    start = time.perf_counter()
    code = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return elapsed


def peak_rss(argv, scratch):
    """Peak RSS (KiB) through /usr/bin/time: a child forked from this Python process would
    carry our own high-water mark across exec."""
    out = os.path.join(scratch, "rss")
    subprocess.call(["/usr/bin/time", "-f", "%M", "-o", out, *argv],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return int(f.read().split()[-1])


BLOCK = 10  # runs of one runtime in a row; blocks of the runtimes alternate
IDLE = 0.1  # seconds of quiet before an "after idle" run


def measure(runtimes, bundle, sleeper, base, runs):
    """{name: {row: [samples]}}. The runtimes take turns in blocks, so a machine whose load
    drifts during the run weighs on all of them alike; the first run of each block (which
    follows another runtime's) is not counted."""
    results = {name: {key: [] for key in ("run", "idle", "create", "start", "delete", "exec",
                                           "rss", "init_pss")} for name in runtimes}
    serial = iter(range(1 << 30))
    for _ in range(max(1, runs // BLOCK)):
        for name, cmd in runtimes.items():
            measure_block(cmd, bundle, f"{base}/{name}", results[name], serial)
            measure_exec(cmd, sleeper, f"{base}/{name}", results[name], serial)
    for name, cmd in runtimes.items():
        cmd = [*cmd, "--root", f"{base}/{name}"]
        for i in range(min(runs, 10)):
            results[name]["rss"].append(
                peak_rss([*cmd, "run", "--bundle", bundle, f"r{i}"], f"{base}/{name}.scratch"))
    return results


def measure_block(cmd, bundle, root, result, serial):
    cmd = [*cmd, "--root", root]
    for i in range(BLOCK + 1):
        elapsed = timed([*cmd, "run", "--bundle", bundle, f"b{next(serial)}"])
        if i:
            result["run"].append(elapsed)
    time.sleep(IDLE)
    result["idle"].append(timed([*cmd, "run", "--bundle", bundle, f"i{next(serial)}"]))
    for i in range(BLOCK + 1):
        cid = f"s{next(serial)}"
        created = timed([*cmd, "create", "--bundle", bundle, cid])
        pss = init_memory(cmd, cid)
        started = timed([*cmd, "start", cid])
        wait_stopped(cmd, cid)
        deleted = timed([*cmd, "delete", cid])
        if i:
            for key, value in (("create", created), ("init_pss", pss), ("start", started),
                               ("delete", deleted)):
                result[key].append(value)


def measure_exec(cmd, sleeper, root, result, serial):
    """exec of /bin/true into a running container (the sleeper bundle)."""
    cmd = [*cmd, "--root", root]
    cid = f"x{next(serial)}"
    timed([*cmd, "run", "--detach", "--bundle", sleeper, cid])
    for i in range(BLOCK + 1):
        elapsed = timed([*cmd, "exec", cid, "true"])
        if i:
            result["exec"].append(elapsed)
    timed([*cmd, "delete", "--force", cid])


def init_memory(cmd, cid):
    state = json.loads(subprocess.run([*cmd, "state", cid], capture_output=True, text=True).stdout)
    with open(f"/proc/{state['pid']}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def wait_stopped(cmd, cid):
    for _ in range(500):
        out = subprocess.run([*cmd, "state", cid], capture_output=True, text=True).stdout
        if '"stopped"' in out:
            return
        time.sleep(0.002)


def scratch_dirs(base, names):
    for name in names:
        os.makedirs(f"{base}/{name}.scratch", exist_ok=True)




def report(results):
    names = list(results)
    print(f"{'':24}" + "".join(f"{n:>12}" for n in names) + "   pybox/runc")
    rows = [("run /bin/true (ms)", "run", 1000), ("  after 100 ms idle (ms)", "idle", 1000),
            ("create (ms)", "create", 1000),
            ("start (ms)", "start", 1000), ("delete (ms)", "delete", 1000),
            ("exec /bin/true (ms)", "exec", 1000),
            ("runtime peak RSS (MiB)", "rss", 1 / 1024), ("created init PSS (MiB)", "init_pss", 1 / 1024)]
    for label, key, scale in rows:
        medians = {n: statistics.median(results[n][key]) * scale for n in names}
        ratio = medians["pybox"] / medians["runc"] if medians.get("runc") else float("nan")
        print(f"{label:24}" + "".join(f"{medians[n]:12.2f}" for n in names) + f"{ratio:13.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seccomp", action="store_true", help="bundles with Docker's default seccomp profile")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=PATH",
                        help="one more runc-compatible binary, e.g. another pybox-runc to compare before/after")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="pybox-bench-")
    try:
        with cgroup_parent() as parent:
            bench(base, parent, args.runs, args.seccomp, dict(a.split("=", 1) for a in args.also))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def bench(base, parent, runs, seccomp=False, also=None):
    bundle = make_bundle(base, f"{parent}/c", seccomp=seccomp)
    sleeper = make_bundle(base, f"{parent}/x", "sleeper", ("sleep", "1000"), f"{bundle}/rootfs", seccomp=seccomp)
    scratch_dirs(base, ("pybox", "runc", "crun", *(also or {})))
    runtimes = {"pybox": [PYBOX], **{name: [path] for name, path in (also or {}).items()}}
    if shutil.which("runc"):
        runtimes["runc"] = ["runc"]
    if shutil.which("crun"):
        runtimes["crun"] = [*crun_prefix(), "crun"]
    results = measure(runtimes, bundle, sleeper, base, runs)
    print(f"{runs} runs each, medians{', with docker-default seccomp' if seccomp else ''}; "
          f"python {sys.version.split()[0]}, {os.uname().release}")
    report(results)


if __name__ == "__main__":
    main()
