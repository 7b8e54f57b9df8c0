"""Readings `pybox bench` takes of the host, and percentiles."""

import statistics
import time


def meminfo():
    values = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0])
    return values


KERNEL = ("SUnreclaim", "KernelStack", "PageTables", "Percpu", "Shmem")


def _medians(read, count=5):
    """Each field of read() (a tuple), the median of count readings 20 ms apart."""
    samples = []
    for _ in range(count):
        samples.append(read())
        time.sleep(0.02)
    return tuple(statistics.median(s[i] for s in samples) for i in range(len(samples[0])))


def memory_sample():
    """(MemAvailable, Slab) in KiB."""
    def read():
        m = meminfo()
        return m["MemAvailable"], m["Slab"]
    return _medians(read)


def kernel_sample():
    """The kernel's memory nothing can reclaim, in KiB (unreclaimable slab, kernel stacks, page
    tables, per-cpu areas, tmpfs)."""
    (kib,) = _medians(lambda: (sum(meminfo().get(k, 0) for k in KERNEL),))
    return kib


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def percentiles_ms(seconds):
    return {f"p{p}": round(percentile(seconds, p) * 1000, 2) if seconds else None for p in (50, 90, 99)}
