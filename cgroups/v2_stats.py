"""`events --stats` data from cgroup v2 files, in runc's JSON shape (fs2 stats)."""

from pybox.cgroups import files
from pybox.units import cpu_list
from pybox.cgroups.stats import CPUSET_FLAGS, empty_stats, finish, hugepage_sizes

UNLIMITED = (1 << 64) - 1  # what runc reports for "max"


def _limit(directory, name):
    value = files.read_int(directory, name)
    return UNLIMITED if value == -1 else value


def collect(d):
    stats = empty_stats()
    _cpu(d, stats)
    _memory(d, stats)
    stats["pids"] = {"current": files.read_int(d, "pids.current"),
                     "limit": max(files.read_int(d, "pids.max"), 0)}
    _io(d, stats)
    hugetlb(d, stats)
    stats["cpuset"] = dict.fromkeys(CPUSET_FLAGS, 0)  # v1-only flags: runc prints zeros on v2 too
    if files.exists(d, "cpuset.cpus.effective"):
        stats["cpuset"].update(cpus=cpu_list(files.read(d, "cpuset.cpus.effective") or ""),
                               mems=cpu_list(files.read(d, "cpuset.mems.effective") or ""))
    return finish(stats)


def _cpu(d, stats):
    stat = files.read_keyed(d, "cpu.stat")
    stats["cpu"]["usage"] = {"total": stat.get("usage_usec", 0) * 1000,
                             "kernel": stat.get("system_usec", 0) * 1000,
                             "user": stat.get("user_usec", 0) * 1000}
    stats["cpu"]["throttling"] = {"periods": stat.get("nr_periods", 0),
                                  "throttled_periods": stat.get("nr_throttled", 0),
                                  "throttled_time": stat.get("throttled_usec", 0) * 1000}


def _memory(d, stats):
    mem = stats["memory"]
    raw = files.read_keyed(d, "memory.stat")
    mem["raw"] = raw
    mem["cache"] = raw.get("file", 0)
    usage = files.read_int(d, "memory.current")
    events = files.read_keyed(d, "memory.events")
    mem["usage"] = {"limit": _limit(d, "memory.max"), "usage": usage,
                    "max": files.read_int(d, "memory.peak"), "failcnt": events.get("max", 0)}
    if files.exists(d, "memory.swap.current"):
        # runc reports v1's memory+swap figures, so v2 sums memory and swap the same way.
        swap_limit = _limit(d, "memory.swap.max")
        mem_limit = mem["usage"]["limit"]
        total = UNLIMITED if UNLIMITED in (swap_limit, mem_limit) else swap_limit + mem_limit
        mem["swap"] = {"limit": total, "usage": usage + files.read_int(d, "memory.swap.current"),
                       "failcnt": files.read_keyed(d, "memory.swap.events").get("max", 0)}


def _io(d, stats):
    service_bytes, serviced = [], []
    for line in (files.read(d, "io.stat") or "").splitlines():
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        values = dict(p.split("=", 1) for p in pairs if "=" in p)
        for entries, read_key, write_key in ((service_bytes, "rbytes", "wbytes"),
                                             (serviced, "rios", "wios")):
            for op, key in (("Read", read_key), ("Write", write_key)):
                entries.append({"major": int(major), "minor": int(minor), "op": op,
                                "value": int(values.get(key, 0))})
    stats["blkio"] = {"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced}


def hugetlb(d, stats):
    for size in hugepage_sizes():
        prefix = f"hugetlb.{size}."
        if files.exists(d, prefix + "current"):
            stats["hugetlb"][size] = {"usage": files.read_int(d, prefix + "current"),
                                      "max": _limit(d, prefix + "max"),
                                      "failcnt": files.read_keyed(d, prefix + "events").get("max", 0)}
