"""`events --stats` data from cgroup v1 files, in runc's JSON shape (types.Stats)."""

import os

from pybox.cgroups import files
from pybox.units import cpu_list
from pybox.cgroups.stats import CPUSET_FLAGS, blkio_entries, empty_stats, finish, hugepage_sizes

NS_PER_TICK = 10_000_000  # cpuacct.stat counts USER_HZ (100 Hz) ticks


def collect(mgr):
    stats = empty_stats()
    for name, reader in (("cpuacct", _cpuacct), ("cpu", _cpu_throttling), ("memory", _memory),
                         ("pids", _pids), ("blkio", _blkio), ("cpuset", _cpuset)):
        directory = mgr.dir_of(name)
        if directory and os.path.isdir(directory):
            reader(directory, stats)
    _hugetlb(mgr, stats)
    return finish(stats)


def _cpuacct(d, stats):
    usage = stats["cpu"]["usage"]
    usage["total"] = files.read_int(d, "cpuacct.usage")
    for key, name in (("percpu", "cpuacct.usage_percpu"), ("percpu_kernel", "cpuacct.usage_percpu_sys"),
                      ("percpu_user", "cpuacct.usage_percpu_user")):
        usage[key] = [int(v) for v in (files.read(d, name) or "").split()]
    ticks = files.read_keyed(d, "cpuacct.stat")
    usage["kernel"] = ticks.get("system", 0) * NS_PER_TICK
    usage["user"] = ticks.get("user", 0) * NS_PER_TICK


def _cpu_throttling(d, stats):
    stat = files.read_keyed(d, "cpu.stat")
    stats["cpu"]["throttling"] = {"periods": stat.get("nr_periods", 0),
                                  "throttled_periods": stat.get("nr_throttled", 0),
                                  "throttled_time": stat.get("throttled_time", 0)}


def _memory(d, stats):
    mem = stats["memory"]
    raw = files.read_keyed(d, "memory.stat")
    mem["raw"] = raw
    mem["cache"] = raw.get("cache", 0)
    for key, prefix in (("usage", "memory"), ("swap", "memory.memsw"), ("kernel", "memory.kmem"),
                        ("kernelTCP", "memory.kmem.tcp")):
        if files.exists(d, prefix + ".usage_in_bytes"):
            mem[key] = {"limit": files.read_int(d, prefix + ".limit_in_bytes"),
                        "usage": files.read_int(d, prefix + ".usage_in_bytes"),
                        "max": files.read_int(d, prefix + ".max_usage_in_bytes"),
                        "failcnt": files.read_int(d, prefix + ".failcnt")}


def _pids(d, stats):
    stats["pids"] = {"current": files.read_int(d, "pids.current"),
                     "limit": max(files.read_int(d, "pids.max"), 0)}


def _blkio(d, stats):
    blkio = stats["blkio"]
    # With BFQ the proportional-weight files are bfq.*; the throttle ones count every I/O.
    for key, name in (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
                      ("ioServicedRecursive", "io_serviced_recursive")):
        text = files.read(d, "blkio.throttle." + name) or files.read(d, "blkio.bfq." + name) or ""
        blkio[key] = blkio_entries(text)


def _cpuset(d, stats):
    cpuset = {"cpus": cpu_list(files.read(d, "cpuset.cpus") or ""),
              "mems": cpu_list(files.read(d, "cpuset.mems") or "")}
    for name in CPUSET_FLAGS:
        cpuset[name] = files.read_int(d, "cpuset." + name)
    stats["cpuset"] = cpuset


def _hugetlb(mgr, stats):
    directory = mgr.dir_of("hugetlb")
    if directory:
        for size in hugepage_sizes():
            prefix = f"hugetlb.{size}."
            stats["hugetlb"][size] = {"usage": files.read_int(directory, prefix + "usage_in_bytes"),
                                      "max": files.read_int(directory, prefix + "max_usage_in_bytes"),
                                      "failcnt": files.read_int(directory, prefix + "failcnt")}
    elif mgr.unified_dir():
        from pybox.cgroups.v2_stats import hugetlb
        hugetlb(mgr.unified_dir(), stats)
