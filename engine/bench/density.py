"""`pybox bench density`: how many containers a host holds, how fast they start, what each costs.

For each runtime in turn (the order alternates between rounds, so that drift in the machine hits
them alike), N containers are made from one shared read-only lower (an overlay with a thin upper
per container), each started and checked to be really running, held while the host is measured,
then removed. Everything lives below one parent cgroup under the caller's own cgroup and one
temporary directory; both go at the end, and on Ctrl-C or SIGTERM.

Memory per container is measured three ways: MemAvailable's and Slab's drop over the N
containers (each the median of 5 readings, before and after), and the memory charged to the
cgroup that holds all of one runtime's containers.
"""

import os
import statistics
import time

from pybox.engine.bench.measure import meminfo, memory_sample, percentiles_ms
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


def mount_count():
    with open("/proc/self/mountinfo") as f:
        return sum(1 for _ in f)


def process_count():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


class Parent:
    """One cgroup below the caller's own, in every hierarchy; a child per runtime."""

    def __init__(self):
        own = ""
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "memory" or (controllers == "" and not own):
                    own = path.rstrip("/")
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

    def pids(self, sub):
        """The processes in the cgroups below sub (one hierarchy holds them all)."""
        for mount in self.mounts:
            top = os.path.join(mount + self.path, sub)
            if any(os.path.exists(os.path.join(mount + self.path, name))
                   for name in ("memory.usage_in_bytes", "memory.current")):  # v1 memory, or v2 with it
                pids = []
                for d, _, files in os.walk(top):
                    if "cgroup.procs" in files:
                        with open(os.path.join(d, "cgroup.procs")) as f:
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


def start_one(driver, base, lowers, sub, opts, i, net):
    """Make container i's bundle, create it, plug its network in (bridge), start it and wait
    until it runs: (cid, seconds from create to running, seconds of the network's part)."""
    from pybox.images.overlay import unmount
    cid = f"b{i:07d}"  # fixed width: runsc takes an id that prefixes another as ambiguous
    bundle = container_bundle(base, lowers, driver.name, i, f"{sub}/{i}", opts)
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
    entry = new_entry(driver.name, opts, driver.note)
    if net is not None and driver.name == "runsc":
        entry["note"] = ("runsc keeps --network none: its sandbox reads the namespace's links at create, "
                         "before the veth is plugged in, so the veth is made and measured but not used")
    mem0, slab0 = memory_sample()
    mounts0, procs0 = mount_count(), process_count()
    tally = Tally(driver.name, opts, entry, progress, mem0)

    def one(i):
        return start_one(driver, base, lowers, sub, opts, i, net)

    t0 = time.perf_counter()
    start_all(opts, one, tally)
    elapsed = time.perf_counter() - t0
    tally.close()
    time.sleep(0.5)  # let the kernel settle before the host is read
    mem1, slab1 = memory_sample()
    started = tally.started
    n = max(len(started), 1)
    charge = parent.charge(driver.name)
    entry.update(tally.fields(elapsed))
    entry.update({
        "memory_per_container_kib": round((mem0 - mem1) / n, 1),
        "slab_per_container_kib": round((slab1 - slab0) / n, 1),
        "cgroup_charge_per_container_kib": round(charge / 1024 / n, 1) if charge is not None else None,
        # In the host's mount namespace, besides the overlay the bench mounts for each.
        "mounts_per_container": round((mount_count() - mounts0) / n - 1, 2),
        "processes_per_container": round((parent.processes(driver.name) or 0) / n, 2),
        "host_processes_per_container": round((process_count() - procs0) / n, 2),
    })
    if net is not None:
        entry["network"] = net.unplug_all(started, tally.extras, n)
    t1 = time.perf_counter()
    for cid in started:
        try:
            driver.remove(cid)
        except (PyboxError, OSError) as err:
            entry["failures"] += 1
            entry["first_failure"] = entry["first_failure"] or str(err)
    for i in range(opts.count):
        unmount(os.path.join(base, "c", driver.name, str(i), "rootfs"))
    entry["remove_all_seconds"] = round(time.perf_counter() - t1, 3)
    entry["left_behind"] = left_behind(driver, base, parent)
    return entry


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


def merge_rounds(rounds):
    """One entry per runtime: the last round's, with every round's rate kept."""
    entry = dict(rounds[-1])
    entry["rounds"] = [{k: r[k] for k in ("containers_per_second", "memory_per_container_kib",
                                           "remove_all_seconds")} for r in rounds]
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
