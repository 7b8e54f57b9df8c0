"""`pybox bench density --frontend`: `pybox run -d` against `podman run -d --runtime runc`.

Both front ends start N detached containers (`--network none`, each with its conmon monitor) from
the same image, imported into each from one rootfs tar. Each keeps everything in private places
below the bench's directory: pybox a --root and an image store of its own (PYBOX_STORAGE), podman
its own --root, --runroot, --tmpdir, network config dir, runc state directory and containers.conf,
so the user's containers and images are never seen or touched. Every process goes below the bench's
parent cgroup: the commands join <parent>/<front end>/cli before they exec, pybox's conmon stays
there, podman moves its conmon to <cgroup-parent>/conmon, and the containers go below
<parent>/<front end> (pybox's PYBOX_CGROUP_PARENT, podman's --cgroup-parent).

Per container it reports the start latency of the command (it returns once the container runs),
host memory, the charge of the front end's cgroup, the resident memory (Rss and Pss from
/proc/PID/smaps_rollup) of each conmon, and every other process each front end keeps.
"""

import os
import statistics
import sys
import time

from pybox.errors import PyboxError

IMAGE = "localhost/bench-busybox"


class FrontEnd:
    """One docker-style command line in private state below base/<name>."""

    name = label = short = ""  # short: its directory's name (podman's runroot takes 50 characters at most)

    def __init__(self, base, parent):
        self.dir = os.path.join(base, self.short)
        os.makedirs(self.dir, exist_ok=True)
        self.parent = parent
        self.sub = parent.make(self.name)
        parent.make(f"{self.name}/cli")
        self.env = dict(os.environ)

    def argv(self, *args):
        raise NotImplementedError

    def run(self, *args, timeout=120, check=True):
        """One command, started from the front end's cli cgroup below the bench's parent; its output."""
        from pybox.engine.bench.runtimes import run_command
        procs = " ".join(os.path.join(m + self.parent.path, self.name, "cli", "cgroup.procs")
                         for m in self.parent.mounts)
        join = 'for p in $BENCH_CGROUP_PROCS; do echo $$ > "$p" || exit 1; done; exec "$@"'
        try:
            out = run_command(["sh", "-c", join, "sh", *self.argv()], self.label, args, out=True,
                              env=dict(self.env, BENCH_CGROUP_PROCS=procs), timeout=timeout)
        except PyboxError:
            if check:
                raise
            return b""
        return out.decode(errors="replace")

    def load(self, tar):
        self.run("import", tar, IMAGE, timeout=300)

    def start(self, name, command):
        self.run("run", "-d", "--network", "none", *self.run_options(), "--name", name, IMAGE, *command)

    def run_options(self):
        return []

    def ids(self):
        return self.run("ps", "-a", "-q", "--no-trunc", check=False).split()

    def remove_all(self):
        raise NotImplementedError

    def monitors(self):
        """The pids of this front end's conmons (those in its cgroups)."""
        return [pid for pid in self.processes() if _comm(pid) == "conmon"]

    def processes(self):
        return self.parent.pids(self.name) or []

    def storage_mounts(self):
        """Mounts the front end keeps for its store, not for a container."""
        return ()

    def close(self):
        pass


class Pybox(FrontEnd):
    name, label, short = "pybox", "pybox run -d", "pybox"

    def __init__(self, base, parent):
        super().__init__(base, parent)
        self.env.update(PYBOX_STORAGE=os.path.join(self.dir, "store"), PYBOX_CGROUP_PARENT=self.sub)
        self.root = os.path.join(self.dir, "run")

    def argv(self, *args):
        return [os.path.join(os.path.dirname(sys.executable), "pybox"), "--root", self.root, *args]

    def remove_all(self):
        ids = self.ids()
        if ids:
            self.run("rm", "-f", *ids, timeout=600)


CONTAINERS_CONF = """[containers]
# the caller's limits, as pybox keeps them (podman's default nofile is above this host's hard limit)
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
"""


class Podman(FrontEnd):
    name, label, short = "podman", "podman run -d --runtime runc", "pm"

    def __init__(self, base, parent):
        super().__init__(base, parent)
        import shutil
        if shutil.which("podman") is None:
            raise PyboxError("bench: --frontend needs podman on PATH (apt-get install podman)")
        conf = os.path.join(self.dir, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        d = self.dir
        storage = os.path.join(d, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\nrunroot = "{d}/rr"\ngraphroot = "{d}/root"\n')
        registries = os.path.join(d, "registries.conf")
        open(registries, "w").close()
        self.env.update(CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage,
                        CONTAINERS_REGISTRIES_CONF=registries)
        self.global_args = ["--root", f"{d}/root", "--runroot", f"{d}/rr", "--tmpdir", f"{d}/tmp",
                            "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
                            "--events-backend", "none", "--network-config-dir", f"{d}/networks",
                            "--runtime", "runc", "--runtime-flag", f"root={d}/runc"]

    def argv(self, *args):
        return ["podman", *self.global_args, *args]

    def run_options(self):
        return ["--cgroup-parent", self.sub]

    def remove_all(self):
        self.run("rm", "-f", "-t", "0", "-a", timeout=600)

    def storage_mounts(self):
        return (f"{self.dir}/root/overlay",)  # containers/storage's overlay home, bound on itself

    def close(self):
        self.run("rmi", "-a", "-f", check=False, timeout=120)


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def resident(pid):
    """(Rss, Pss) of a process in KiB, from /proc/PID/smaps_rollup."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key] = int(rest.split()[0])
    except OSError:
        return None
    return values.get("Rss"), values.get("Pss")


def run_front(front, base, parent, opts, progress):
    from pybox.engine.bench.density import Tally, new_entry, start_all
    from pybox.engine.bench.measure import memory_sample
    entry = new_entry(front.label, opts)
    entry["frontend"] = front.name
    mem0, _ = memory_sample()
    tally = Tally(front.label, opts, entry, progress, mem0)

    def one(i):
        name = f"bench{i:07d}"
        began = time.perf_counter()
        front.start(name, opts.command)
        return name, time.perf_counter() - began, None

    t0 = time.perf_counter()
    start_all(opts, one, tally)
    elapsed = time.perf_counter() - t0
    tally.close()
    time.sleep(0.5)
    mem1, _ = memory_sample()
    n = max(len(tally.started), 1)
    charge = parent.charge(front.name)
    monitors = [r for r in (resident(pid) for pid in front.monitors()) if r is not None]
    kinds = {}
    for pid in front.processes():
        comm = _comm(pid)
        if comm:
            kinds[comm] = kinds.get(comm, 0) + 1
    payload = os.path.basename(opts.command[0])[:15]  # the containers' own process, as comm names it
    entry.update(tally.fields(elapsed))
    entry.update({
        "memory_per_container_kib": round((mem0 - mem1) / n, 1),
        "cgroup_charge_per_container_kib": round(charge / 1024 / n, 1) if charge is not None else None,
        "monitor": {"process": "conmon", "count": len(monitors),
                    "rss_kib": _median([r[0] for r in monitors]),
                    "pss_kib": _median([r[1] for r in monitors]),
                    "rss_kib_each": [r[0] for r in monitors], "pss_kib_each": [r[1] for r in monitors]},
        # Every process the front end keeps per container, by name: conmon, the payload, and others.
        "processes_per_container": {k: round(v / n, 2) for k, v in sorted(kinds.items())},
        "other_processes_per_container": round(sum(v for k, v in kinds.items()
                                                   if k not in ("conmon", payload)) / n, 2),
    })
    t1 = time.perf_counter()
    try:
        front.remove_all()
    except PyboxError as err:
        entry["failures"] += 1
        entry["first_failure"] = entry["first_failure"] or str(err)
    entry["remove_all_seconds"] = round(time.perf_counter() - t1, 3)
    entry["left_behind"] = left_behind(front, parent)
    return entry


def _median(values):
    return round(statistics.median(values), 1) if values else None


def left_behind(front, parent):
    """Containers the front end still lists, processes and cgroups still below its own cgroup."""
    left = [f"container {c}" for c in front.ids()]

    def cgroups():
        return [d for d in parent.left(front.name) if d.split(" ")[0].rsplit("/", 1)[1] not in ("cli", "conmon")]

    deadline = time.monotonic() + 10  # conmon's exit command may still be finishing
    while (front.processes() or cgroups()) and time.monotonic() < deadline:
        time.sleep(0.1)
    left += [f"process {pid} {_comm(pid)}" for pid in front.processes()]
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    left += [f"mount {m}" for m in mounts if m.startswith(front.dir + "/") and m not in front.storage_mounts()]
    return left + [f"cgroup {d}" for d in cgroups()]


FRONT_ENDS = (Pybox, Podman)


def run(opts, base, report_progress=None):
    from pybox.engine.bench.density import Parent, cleanup, machine, merge_rounds
    from pybox.images.busybox import write_rootfs_tar
    parent = Parent()
    fronts = []
    try:
        parent.make()
        tar = os.path.join(base, "rootfs.tar")
        write_rootfs_tar(tar)
        for kind in FRONT_ENDS:
            fronts.append(kind(base, parent))
            fronts[-1].load(tar)
        entries = {}
        for r in range(opts.rounds):
            for front in (fronts if r % 2 == 0 else list(reversed(fronts))):
                entry = run_front(front, base, parent, opts, report_progress or (lambda *a: None))
                entries.setdefault(front.name, []).append(entry)
        return {"machine": machine(), "count": opts.count, "rounds": opts.rounds, "parallel": opts.parallel,
                "frontend": True, "runtimes": [merge_rounds(entries[f.name]) for f in fronts]}
    finally:
        for front in fronts:
            for step in (front.remove_all, front.close):
                try:
                    step()
                except (PyboxError, OSError):
                    pass
        cleanup(base, [], parent)
