"""`pybox bench density`: how many containers a host holds, how fast they start, what each costs.

For each runtime in turn (the order alternates between rounds, so that drift in the machine hits
them alike), N containers are made from one shared read-only lower (an overlay with a thin upper
per container), each started and checked to be really running, held while the host is measured,
then removed. Everything lives below one parent cgroup under the caller's own cgroup and one
temporary directory; both go at the end, and on Ctrl-C or SIGTERM.

Memory per container is measured five ways, each over the N containers and each reading the
median of 5, 20 ms apart: MemAvailable's drop (everything, but it moves with whatever else the
host does), Slab's growth, the growth of the kernel memory nothing can reclaim (unreclaimable
slab, kernel stacks, page tables, per-cpu areas and tmpfs: the runtime's state files live there),
the memory charged to the cgroup that holds all of one runtime's containers, and the memory
charged to the cgroup the bench runs the runtime's commands in (what the runtime itself leaves
per container, apart from what the rest of the host does; with --parallel the bench's own bundle
files and overlay mounts are counted there too, the same for every runtime). With --rounds,
every figure that drifts with the machine is the median over the rounds, each round's kept.
The host's limits (pid_max, memory, mounts, memory cgroup ids) are projected from the costs
per container.
"""

import os
import statistics
import time

from pybox.engine.bench.measure import kernel_sample, meminfo, memory_sample, percentiles_ms
from pybox.errors import PyboxError

LIMITS = (("Too many open files", "file descriptors (ulimit -n)"), ("No space left", "disk space or inotify"),
          ("Cannot allocate memory", "memory"), ("Resource temporarily unavailable", "pids (ulimit -u or pids.max)"),
          ("No such device", "a device"), ("Address already in use", "ports"))


class Options:
    __slots__ = ("count", "runtimes", "bundle", "image", "command", "parallel", "memory", "rounds",
                 "progress", "network")

    def __init__(self, count, runtimes, bundle=None, image=None, command=("sleep", "inf"), parallel=1,
                 memory=None, rounds=1, progress=True, network=None):
        self.count, self.runtimes, self.bundle, self.image = count, runtimes, bundle, image
        self.command, self.parallel, self.memory = list(command), parallel, memory
        self.rounds, self.progress = rounds, progress
        self.network = network or "none"


def task_count():
    """Tasks (threads) on the host, which kernel.pid_max bounds: /proc/loadavg's fourth field."""
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[1])


def memory_cgroup_count():
    with open("/proc/cgroups") as f:
        for line in f:
            fields = line.split()
            if fields[0] == "memory":
                return int(fields[2])
    return None


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


MEMCG_ID_MAX = 65535  # the kernel numbers memory cgroups with 16 bits


def host_counts():
    return {"tasks": task_count(), "mounts": mount_count(), "memcgs": memory_cgroup_count(),
            "available": meminfo()["MemAvailable"]}


def ceilings(entry, before, after):
    """The host's limits N containers of one runtime reach, each projected from the cost per
    container measured at this N and what is left of the limit: [{"limit", "at_n"}], first first.
    (The kernel's memory per container grows with N itself on some kernels: the memory figure is
    the nearest it can be, not a promise.)"""
    n = entry["started"]
    if not n:
        return []
    found = []

    def project(limit, left, per_container):
        if per_container and per_container > 0 and left is not None:
            found.append({"limit": limit, "at_n": n + int(max(left, 0) / per_container)})

    pid_max = _read_int("/proc/sys/kernel/pid_max")
    if pid_max:  # the containers' own threads, counted in their cgroups: the host's count moves with all else
        project(f"tasks (kernel.pid_max {pid_max})", pid_max - after["tasks"], entry["tasks_per_container"])
    project("memory (MemAvailable)", after["available"], entry["memory_per_container_kib"])
    mount_max = _read_int("/proc/sys/fs/mount-max")
    if mount_max:  # per mount namespace: the host's holds each container's overlay
        project(f"mounts in the host's namespace (fs.mount-max {mount_max})", mount_max - after["mounts"],
                max(entry["mounts_per_container"], 0) + 1)
    if after["memcgs"] is not None:
        project(f"memory cgroups (the kernel's {MEMCG_ID_MAX} ids)", MEMCG_ID_MAX - after["memcgs"],
                (after["memcgs"] - before["memcgs"]) / n)
    return sorted(found, key=lambda c: c["at_n"])


def mount_count():
    with open("/proc/self/mountinfo") as f:
        return sum(1 for _ in f)


def process_count():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


class Parent:
    """One cgroup below the caller's own, in every hierarchy; a child per runtime for its
    containers, and one beside it that the bench joins (in the memory hierarchy only) while it
    runs the runtime's commands or API calls, so that what the runtime itself leaves charged per
    container (state files on tmpfs, kernel objects of the namespaces it makes) is counted apart
    from the rest of the host."""

    def __init__(self):
        own = ""
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "memory" or (controllers == "" and not own):
                    own = path.rstrip("/")
        self.own = own
        self.path = f"{own}/pybox-bench-{os.getpid()}"
        self.mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                fstype = line.split(" - ")[1].split()[0]
                if fstype in ("cgroup", "cgroup2"):
                    self.mounts.append(fields[4])

    def make(self, sub=""):
        path = f"{self.path}/{sub}".rstrip("/")
        for mount in self.mounts:
            directory = mount
            for part in path.strip("/").split("/"):
                parent, directory = directory, os.path.join(directory, part)
                if not os.path.isdir(directory):
                    os.mkdir(directory)
                    for name in ("cpuset.cpus", "cpuset.mems"):  # v1: a child needs them to hold a task
                        if os.path.exists(os.path.join(directory, name)):
                            with open(os.path.join(parent, name)) as f:
                                value = f.read()
                            with open(os.path.join(directory, name), "w") as f:
                                f.write(value)
        return path

    def _memory_mount(self):
        for mount in self.mounts:
            if any(os.path.exists(os.path.join(mount + self.own, name))
                   for name in ("memory.usage_in_bytes", "memory.current")):
                return mount
        return None

    def join(self, sub):
        """This process into the memory cgroup at sub (None: back to the caller's own)."""
        mount = self._memory_mount()
        if mount is not None:
            target = mount + (self.own if sub is None else f"{self.path}/{sub}")
            with open(os.path.join(target, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def discard(self, sub):
        for mount in self.mounts:
            try:
                os.rmdir(os.path.join(mount + self.path, sub))
            except OSError:
                pass

    def charge(self, sub):
        """Bytes charged to the memory cgroup at sub."""
        for mount in self.mounts:
            for name in ("memory.usage_in_bytes", "memory.current"):
                path = os.path.join(mount + self.path, sub, name)
                if os.path.exists(path):
                    with open(path) as f:
                        return int(f.read())
        return None

    def processes(self, sub):
        """How many processes are in the cgroups below sub."""
        pids = self.pids(sub)
        return None if pids is None else len(pids)

    def tasks(self, sub):
        """How many threads are in the cgroups below sub."""
        pids = self.pids(sub, listing="tasks")
        return None if pids is None else len(pids)

    def pids(self, sub, listing="cgroup.procs"):
        """The processes (listing "tasks": threads) in the cgroups below sub (one hierarchy holds
        them all)."""
        for mount in self.mounts:
            top = os.path.join(mount + self.path, sub)
            if any(os.path.exists(os.path.join(mount + self.path, name))
                   for name in ("memory.usage_in_bytes", "memory.current")):  # v1 memory, or v2 with it
                pids = []
                for d, _, files in os.walk(top):
                    name = listing if listing in files else "cgroup.threads" if listing == "tasks" else None
                    if name in files:
                        with open(os.path.join(d, name)) as f:
                            pids += [int(x) for x in f.read().split()]
                return pids
        return None

    def left(self, sub=""):
        """Cgroups still below sub (the runtime's containers' own): each path once, as
        "PATH (in K hierarchies)", PATH as in /proc/PID/cgroup."""
        found = {}
        for mount in self.mounts:
            top = os.path.join(mount + self.path, sub)
            for d, dirs, _ in os.walk(top):
                for x in dirs:
                    path = os.path.join(d, x)[len(mount):]
                    found[path] = found.get(path, 0) + 1
        return [f"{path} (in {k} hierarch{'y' if k == 1 else 'ies'})" for path, k in found.items()]

    def remove(self):
        """Kill what a runtime failed to remove (its processes in our cgroups), then the cgroups."""
        import signal
        try:
            self.join(None)
        except OSError:
            pass
        for _ in range(50):
            pids = set()
            for mount in self.mounts:
                for d, _, files in os.walk(mount + self.path):
                    if "cgroup.procs" in files:
                        with open(os.path.join(d, "cgroup.procs")) as f:
                            pids.update(int(x) for x in f.read().split())
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for mount in self.mounts:
            top = mount + self.path
            for d, _, _ in sorted(os.walk(top, topdown=False), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def lower_dir(base, opts):
    """The shared read-only lower dirs, bottom first: a bundle's rootfs, an image's layers, or
    the busybox rootfs pybox builds."""
    if opts.bundle:
        return [os.path.join(os.path.abspath(opts.bundle), "rootfs")]
    if opts.image:
        from pybox.images.store import Store
        image = Store().find(opts.image)
        if image is None:
            raise PyboxError(f"bench: --image {opts.image}: not in the store (pybox pull it first)")
        return image.layer_dirs()
    import tarfile
    from pybox.images.busybox import write_rootfs_tar
    path = os.path.join(base, "busybox.tar")
    write_rootfs_tar(path)
    rootfs = os.path.join(base, "lower")
    with tarfile.open(path) as tar:
        tar.extractall(rootfs)  # pybox's own tar, written just above
    os.unlink(path)
    return [rootfs]


def container_bundle(base, lowers, rt, i, cgroups_path, opts):
    from pybox import jsonio
    from pybox.images.overlay import mount_overlay
    from pybox.runtime.defaults import default_spec
    d = os.path.join(base, "c", rt, str(i))
    for sub in ("upper", "work", "rootfs"):
        os.makedirs(os.path.join(d, sub))
    mount_overlay(lowers, os.path.join(d, "upper"), os.path.join(d, "work"), os.path.join(d, "rootfs"))
    spec = default_spec()
    spec["ociVersion"] = "1.0.2"  # crun 1.8.1 knows no later version
    spec["process"].update(terminal=False, args=opts.command)
    spec["root"] = {"path": os.path.join(d, "rootfs"), "readonly": False}
    spec["linux"]["cgroupsPath"] = cgroups_path
    if opts.memory:
        spec["linux"]["resources"] = {"memory": {"limit": opts.memory}}
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(jsonio.dumps(spec))
    return d


def limit_of(message):
    return next((name for text, name in LIMITS if text in message), None)


def start_one(driver, base, lowers, sub, opts, i, net, commands=None):
    """Make container i's bundle, create it, plug its network in (bridge), start it and wait
    until it runs: (cid, seconds from create to running, seconds of the network's part).
    commands: the memory cgroup to run the runtime's part in (serially: the caller joined one
    for all the threads otherwise)."""
    from pybox.images.overlay import unmount
    cid = f"b{i:07d}"  # fixed width: runsc takes an id that prefixes another as ambiguous
    bundle = container_bundle(base, lowers, driver.name, i, f"{sub}/{i}", opts)
    if commands is not None:
        commands[0].join(commands[1])
    began = time.perf_counter()
    created = False
    try:
        driver.create(cid, bundle)
        created = True
        network = 0.0
        if net is not None:
            pid = driver.status(cid)[1]
            t = time.perf_counter()
            net.attach(cid, pid)
            network = time.perf_counter() - t
        driver.start(cid)
        deadline = time.monotonic() + 30
        while driver.running_pid(cid) is None:
            if time.monotonic() > deadline:
                raise PyboxError(f"{driver.name}: container {cid} did not reach running in 30 s")
            time.sleep(0.005)
        return cid, time.perf_counter() - began, network
    except BaseException:
        if created:  # a failed container goes now, so that what is left over means a leak
            try:
                driver.remove(cid)
            except (PyboxError, OSError):
                pass
        if net is not None:
            net.detach(cid)
        unmount(os.path.join(bundle, "rootfs"))
        raise
    finally:
        if commands is not None:
            commands[0].join(None)


def start_all(opts, one, on_done):
    """Run one(i) for i below opts.count, opts.parallel at a time (threads, each driving a
    runtime or a front end). on_done(i, result, error) runs in this (the main) thread after each;
    it returns True to stop starting more. On an interrupt no new one starts, and the ones under
    way finish before the interrupt goes on (to the clean-up)."""
    if opts.parallel == 1:
        for i in range(opts.count):
            try:
                result, error = one(i), None
            except (PyboxError, OSError) as err:
                result, error = None, err
            if on_done(i, result, error):
                return
        return
    import concurrent.futures as cf
    stop = []

    def guarded(i):
        if stop:
            return None
        return one(i)

    pool = cf.ThreadPoolExecutor(max_workers=opts.parallel, thread_name_prefix="bench")
    try:
        pending = {pool.submit(guarded, i): i for i in range(opts.count)}
        while pending:
            done, _ = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=pending.get):
                i = pending.pop(future)
                try:
                    result, error = future.result(), None
                except (PyboxError, OSError) as err:
                    result, error = None, err
                if result is None and error is None:
                    continue  # skipped after a stop
                if on_done(i, result, error):
                    stop.append(True)
    except BaseException:
        stop.append(True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Tally:
    """What the starts of one runtime came to: latencies, memory against N, failures, limits.
    start_all's on_done; results are (id, seconds, extra)."""

    def __init__(self, name, opts, entry, progress, mem0):
        self.name, self.count, self.entry, self.progress, self.mem0 = name, opts.count, entry, progress, mem0
        self.latencies, self.extras, self.started, self.curve = [], [], [], [[0, 0.0]]
        self.step = max(1, opts.count // 50)
        self.finished = 0

    def __call__(self, i, result, error):
        self.finished += 1
        entry = self.entry
        if error is None:
            cid, seconds, extra = result
            self.latencies.append(seconds)
            self.extras.append(extra)
            self.started.append(cid)
            if len(self.started) % self.step == 0:  # memory against N, for the plot: one reading
                self.curve.append([len(self.started), round(self.mem0 - meminfo()["MemAvailable"], 1)])
        else:
            entry["failures"] += 1
            message = str(error)
            entry["first_failure"] = entry["first_failure"] or message
            limit = limit_of(message)
            if limit and not entry["limit"]:
                entry["limit"] = f"{limit} at N={len(self.started) + 1}"
        self.progress(self.name, self.finished, self.count)
        return entry["failures"] >= 10

    def close(self):
        if self.finished < self.count:
            self.progress(self.name, self.count, self.count)  # ended early: close the bar

    def fields(self, elapsed):
        lat = self.latencies
        return {"started": len(self.started),
                "start_all_seconds": round(elapsed, 3),
                "containers_per_second": round(len(self.started) / elapsed, 1) if elapsed else None,
                "latency_ms": percentiles_ms(lat),
                "latency_first_tenth_ms": _tenth(lat, first=True),
                "latency_last_tenth_ms": _tenth(lat, first=False),
                "latencies_ms": [round(x * 1000, 2) for x in lat],
                "memory_curve_kib": self.curve}


def new_entry(name, opts, note=None):
    return {"runtime": name, "count": opts.count, "parallel": opts.parallel, "failures": 0,
            "first_failure": None, "limit": None, "note": note}


def run_one(driver, base, lowers, parent, opts, progress, net=None):
    """Start, hold and remove opts.count containers with one driver; its report entry. net: a
    bench.network.Bridge to plug each container into (--network bridge), else None."""
    from pybox.images.overlay import unmount
    sub = parent.make(driver.name)
    commands = parent.make(f"{driver.name}-runtime")[len(parent.path) + 1:]
    entry = new_entry(driver.name, opts, driver.note)
    if net is not None and driver.name == "runsc":
        entry["note"] = ("runsc keeps --network none: its sandbox reads the namespace's links at create, "
                         "before the veth is plugged in, so the veth is made and measured but not used")
    mem0, slab0 = memory_sample()
    kernel0, counts0 = kernel_sample(), host_counts()
    mounts0, procs0 = mount_count(), process_count()
    tally = Tally(driver.name, opts, entry, progress, mem0)
    serial = opts.parallel == 1

    def one(i):
        return start_one(driver, base, lowers, sub, opts, i, net, (parent, commands) if serial else None)

    t0 = time.perf_counter()
    if not serial:
        parent.join(commands)
    try:
        start_all(opts, one, tally)
    finally:
        parent.join(None)
    elapsed = time.perf_counter() - t0
    tally.close()
    time.sleep(0.5)  # let the kernel settle before the host is read
    mem1, slab1 = memory_sample()
    kernel1, counts1 = kernel_sample(), host_counts()
    started = tally.started
    n = max(len(started), 1)
    charge, runtime_charge = parent.charge(driver.name), parent.charge(commands)
    entry.update(tally.fields(elapsed))
    entry.update({
        "memory_per_container_kib": round((mem0 - mem1) / n, 1),
        "slab_per_container_kib": round((slab1 - slab0) / n, 1),
        "kernel_per_container_kib": round((kernel1 - kernel0) / n, 1),
        "cgroup_charge_per_container_kib": round(charge / 1024 / n, 1) if charge is not None else None,
        "runtime_charge_per_container_kib": round(runtime_charge / 1024 / n, 1)
        if runtime_charge is not None else None,
        # In the host's mount namespace, besides the overlay the bench mounts for each.
        "mounts_per_container": round((mount_count() - mounts0) / n - 1, 2),
        "processes_per_container": round((parent.processes(driver.name) or 0) / n, 2),
        "tasks_per_container": round((parent.tasks(driver.name) or 0) / n, 2),
        "host_processes_per_container": round((process_count() - procs0) / n, 2),
    })
    entry["ceilings"] = ceilings(entry, counts0, counts1)
    if net is not None:
        entry["network"] = net.unplug_all(started, tally.extras, n)
    t1 = time.perf_counter()
    parent.join(commands)
    try:
        for err in remove_all(driver, started, opts.parallel):
            if err is not None:
                entry["failures"] += 1
                entry["first_failure"] = entry["first_failure"] or str(err)
    finally:
        parent.join(None)
    parent.discard(commands)  # the next round starts with an empty one
    for i in range(opts.count):
        unmount(os.path.join(base, "c", driver.name, str(i), "rootfs"))
    entry["remove_all_seconds"] = round(time.perf_counter() - t1, 3)
    entry["left_behind"] = left_behind(driver, base, parent)
    return entry


def remove_all(driver, ids, parallel):
    """delete --force each; with --parallel K, K at a time (runsc takes 2 s for each, most of
    it waiting for its sandbox to go). The API's containers go one at a time: they are the
    bench's own children. An error (or None) per id."""
    def remove(cid):
        try:
            driver.remove(cid)
        except (PyboxError, OSError) as err:
            return err
        return None
    if parallel == 1 or driver.name == "pybox-api":
        return [remove(cid) for cid in ids]
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="bench-rm") as pool:
        return list(pool.map(remove, ids))


def _tenth(latencies, first):
    k = max(1, len(latencies) // 10)
    part = latencies[:k] if first else latencies[-k:]
    return round(statistics.median(part) * 1000, 2) if part else None


def left_behind(driver, base, parent):
    """What the runtime left after removing all: state entries, cgroups, mounts."""
    left = []
    if os.path.isdir(driver.root):
        left += [f"state {e}" for e in os.listdir(driver.root) if not e.startswith(".")]
    left += [f"cgroup {d}" for d in parent.left(driver.name)]
    with open("/proc/self/mountinfo") as f:
        left += [f"mount {line.split()[4]}" for line in f if line.split()[4].startswith(base + "/")]
    return left


def run(opts, base, report_progress=None):
    """The whole report: {"runtimes": [entry, ...], "machine": {...}}."""
    from pybox.engine.bench.runtimes import driver
    parent = Parent()
    drivers, net = [], None
    try:
        parent.make()
        lowers = lower_dir(base, opts)
        drivers = [driver(spec, os.path.join(base, "state", spec.replace("/", "_")))
                   for spec in opts.runtimes]
        if opts.network == "bridge":
            from pybox.engine.bench.network import Bridge
            net = Bridge(base)
        entries = {}
        for r in range(opts.rounds):
            order = drivers if r % 2 == 0 else list(reversed(drivers))
            for d in order:
                _reset(base, d)
                entry = run_one(d, base, lowers, parent, opts, report_progress or (lambda *a: None), net)
                entries.setdefault(d.name, []).append(entry)
        report = {"machine": machine(), "count": opts.count, "rounds": opts.rounds, "parallel": opts.parallel,
                  "network": opts.network, "runtimes": [merge_rounds(entries[d.name]) for d in drivers]}
        if net is not None:
            from pybox.engine.bench.network import NOTE
            report["network_note"] = NOTE
        return report
    finally:
        if net is not None:
            net.teardown()
        cleanup(base, drivers, parent)


def _reset(base, d):
    from pybox.images.files import remove_tree
    remove_tree(os.path.join(base, "c", d.name))


MEDIANS = ("containers_per_second", "start_all_seconds", "memory_per_container_kib", "slab_per_container_kib",
           "kernel_per_container_kib", "cgroup_charge_per_container_kib", "runtime_charge_per_container_kib",
           "remove_all_seconds")


def merge_rounds(rounds):
    """One entry per runtime: the figures that drift with the machine are the medians over the
    rounds (each round's kept under "rounds"); failures and what was left add up; the rest is
    the last round's."""
    entry = dict(rounds[-1])
    keys = [k for k in MEDIANS if k in entry]
    entry["rounds"] = [{k: r.get(k) for k in keys} for r in rounds]
    for k in keys:
        values = [r[k] for r in rounds if r.get(k) is not None]
        entry[k] = round(statistics.median(values), 1) if values else None
    if "latency_ms" in entry:
        entry["latency_ms"] = {p: round(statistics.median(r["latency_ms"][p] for r in rounds), 2)
                               if all(r["latency_ms"][p] is not None for r in rounds) else None
                               for p in entry["latency_ms"]}
    entry["failures"] = sum(r["failures"] for r in rounds)
    entry["left_behind"] = [item for r in rounds for item in r.get("left_behind", [])]
    return entry


def cleanup(base, drivers, parent):
    """Whatever a failure or an interrupt left: containers, overlays, cgroups, the directory."""
    from pybox.images.files import remove_tree
    from pybox.images.overlay import unmount
    for d in drivers:
        try:
            ids = os.listdir(d.root) if os.path.isdir(d.root) else []
            for cid in ids:
                if not cid.startswith("."):
                    try:
                        d.remove(cid)
                    except (PyboxError, OSError, KeyError):
                        pass
            d.close()
        except BaseException:  # noqa: BLE001 -- keep cleaning
            pass
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if line.split()[4].startswith(base + "/")]
    for m in sorted(mounts, key=len, reverse=True):
        unmount(m)
    parent.remove()
    remove_tree(base)


def machine():
    import platform
    cpus = os.cpu_count()
    mem = meminfo()["MemTotal"] // 1024
    return {"kernel": platform.release(), "cpus": cpus, "memory_mib": mem, "python": platform.python_version()}
