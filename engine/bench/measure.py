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


def memory_sample():
    """(MemAvailable, Slab) in KiB, medians of 5 readings 20 ms apart."""
    samples = []
    for _ in range(5):
        m = meminfo()
        samples.append((m["MemAvailable"], m["Slab"]))
        time.sleep(0.02)
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


KERNEL = ("SUnreclaim", "KernelStack", "PageTables", "Percpu", "Shmem")


def kernel_sample():
    """The kernel's memory nothing can reclaim, in KiB (unreclaimable slab, kernel stacks, page
    tables, per-cpu areas, tmpfs), the median of 5 readings 20 ms apart."""
    samples = []
    for _ in range(5):
        m = meminfo()
        samples.append(sum(m.get(k, 0) for k in KERNEL))
        time.sleep(0.02)
    return statistics.median(samples)


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def percentiles_ms(seconds):
    return {f"p{p}": round(percentile(seconds, p) * 1000, 2) if seconds else None for p in (50, 90, 99)}
