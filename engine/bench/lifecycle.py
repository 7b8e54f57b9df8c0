"""`pybox bench lifecycle`: create, start, wait and delete of /bin/true, each phase timed apart.

The runtimes take turns container by container (interleaved), on one bundle with a cgroup below
the caller's own; medians, and each runtime's ratio to the first one given.
"""

import os
import statistics
import time

from pybox.errors import PyboxError

PHASES = ("create", "start", "wait", "delete")


def run(runtimes, count, base, progress=None):
    from pybox.engine.bench.density import Options, Parent, cleanup, container_bundle, lower_dir
    from pybox.engine.bench.runtimes import driver
    parent = Parent()
    drivers = []
    try:
        parent.make()
        opts = Options(1, runtimes, command=("/bin/true",))
        lowers = lower_dir(base, opts)
        drivers = [driver(spec, os.path.join(base, "state", spec.replace("/", "_"))) for spec in runtimes]
        times = {d.name: {p: [] for p in PHASES} for d in drivers}
        bundles = {d.name: container_bundle(base, lowers, d.name, 0, f"{parent.make(d.name)}/c", opts)
                   for d in drivers}
        for i in range(count + 1):  # the first round warms caches and is not counted
            for d in drivers:
                cid = f"l{i:07d}"  # fixed width, as density's
                took = _one(d, cid, bundles[d.name])
                if i:
                    for phase, seconds in zip(PHASES, took):
                        times[d.name][phase].append(seconds)
            if progress:
                progress("lifecycle", i + 1, count + 1)
        first = drivers[0].name
        medians = {name: {p: statistics.median(v) * 1000 for p, v in t.items()} for name, t in times.items()}
        return {"count": count, "runtimes": [
            {"runtime": name, **{f"{p}_ms": round(m[p], 2) for p in PHASES},
             "total_ms": round(sum(m.values()), 2),
             "ratio_to_first": {p: round(m[p] / medians[first][p], 2) if medians[first][p] else None
                                for p in PHASES}}
            for name, m in medians.items()]}
    finally:
        cleanup(base, drivers, parent)


def _one(d, cid, bundle):
    t0 = time.perf_counter()
    d.create(cid, bundle)
    t1 = time.perf_counter()
    d.start(cid)
    t2 = time.perf_counter()
    deadline = time.monotonic() + 30
    while d.status(cid)[0] != "stopped":
        if time.monotonic() > deadline:
            raise PyboxError(f"{d.name}: /bin/true did not stop within 30 s")
        time.sleep(0.001)
    t3 = time.perf_counter()
    d.delete(cid)
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3
