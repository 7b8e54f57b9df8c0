"""The `events --stats` "data" object, shaped like runc's types.Stats, and shared parsers."""

import os


CPUSET_FLAGS = ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level")


def empty_stats():
    entry = {"limit": 0, "failcnt": 0}
    return {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": {},
        "memory": {"usage": dict(entry), "swap": dict(entry), "kernel": dict(entry),
                   "kernelTCP": dict(entry)},
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


def finish(stats):
    """Drop what runc's JSON tags mark omitempty, so both print the same document."""
    usage = stats["cpu"]["usage"]
    for key in ("total", "percpu", "percpu_kernel", "percpu_user"):
        _drop_empty(usage, key)
    for key in list(stats["cpu"]["throttling"]):
        _drop_empty(stats["cpu"]["throttling"], key)
    memory = stats["memory"]
    _drop_empty(memory, "cache")
    for key in ("usage", "swap", "kernel", "kernelTCP"):
        _drop_empty(memory[key], "usage")
        _drop_empty(memory[key], "max")
    for key in ("current", "limit"):
        _drop_empty(stats["pids"], key)
    for key in list(stats["blkio"]):
        _drop_empty(stats["blkio"], key)
    for entry in stats["hugetlb"].values():
        _drop_empty(entry, "usage")
        _drop_empty(entry, "max")
    return stats


def _drop_empty(mapping, key):
    if not mapping.get(key):
        mapping.pop(key, None)


def blkio_entries(text):
    """v1 "8:0 Read 4096" lines to runc's [{"major", "minor", "op", "value"}]."""
    entries = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and ":" in words[0]:
            major, _, minor = words[0].partition(":")
            entries.append({"major": int(major), "minor": int(minor), "op": words[1],
                            "value": int(words[2])})
    return entries


def hugepage_sizes():
    """The kernel's huge page sizes as cgroup files name them: "2MB", "1GB"."""
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except FileNotFoundError:
        return []
    sizes = []
    for name in sorted(names):
        kib = int(name.removeprefix("hugepages-").removesuffix("kB"))
        for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kib % scale == 0:
                sizes.append(f"{kib // scale}{unit}")
                break
    return sizes
