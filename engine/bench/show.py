"""What `pybox bench` prints and writes: a progress bar, tables, JSON and a PNG plot."""

import sys

from pybox.errors import PyboxError


def progress(label, done, total):
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r{label:>12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _cell(value):
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


def density_table(report):
    m = report["machine"]
    print(f"{report['count']} containers per runtime; {m['cpus']} CPUs, {m['memory_mib']} MiB, "
          f"kernel {m['kernel']}, python {m['python']}")
    header = ("runtime", "started", "per s", "p50 ms", "p90 ms", "p99 ms", "first 10% ms", "last 10% ms",
              "KiB/ctr", "slab KiB", "kernel KiB", "cgroup KiB", "runtime KiB", "mounts", "procs", "remove s",
              "failed", "left")
    rows = []
    for e in report["runtimes"]:
        lat = e["latency_ms"]
        rows.append((e["runtime"], e["started"], _cell(e["containers_per_second"]), _cell(lat["p50"]),
                     _cell(lat["p90"]), _cell(lat["p99"]), _cell(e["latency_first_tenth_ms"]),
                     _cell(e["latency_last_tenth_ms"]), _cell(e["memory_per_container_kib"]),
                     _cell(e["slab_per_container_kib"]), _cell(e.get("kernel_per_container_kib")),
                     _cell(e["cgroup_charge_per_container_kib"]), _cell(e.get("runtime_charge_per_container_kib")),
                     _cell(e["mounts_per_container"]), _cell(e["processes_per_container"]),
                     _cell(e["remove_all_seconds"]), e["failures"], len(e["left_behind"])))
    _table(header, rows)
    for e in report["runtimes"]:
        if e["note"]:
            print(f"note: {e['runtime']}: {e['note']}")
        if e["limit"]:
            print(f"limit: {e['runtime']}: {e['limit']}")
        elif e.get("ceilings"):
            first, *rest = e["ceilings"]
            after = "; then " + ", ".join(f"{c['limit']} at N={c['at_n']}" for c in rest[:2]) if rest else ""
            print(f"ceiling: {e['runtime']}: {first['limit']} at N={first['at_n']} (projected){after}")
        if e["first_failure"]:
            print(f"failure: {e['runtime']}: {e['first_failure']}")
        for item in e["left_behind"][:5]:
            print(f"left behind: {e['runtime']}: {item}")


def lifecycle_table(report):
    print(f"{report['count']} containers of /bin/true per runtime, medians in ms (ratio to the first)")
    header = ("runtime", "create", "start", "wait", "delete", "total")
    rows = []
    for e in report["runtimes"]:
        r = e["ratio_to_first"]
        rows.append((e["runtime"], *(f"{e[p + '_ms']:.2f} ({r[p]:.2f})" for p in ("create", "start", "wait", "delete")),
                     f"{e['total_ms']:.2f}"))
    _table(header, rows)


def write_json(path, report):
    from pybox import jsonio
    try:
        with open(path, "w") as f:
            f.write(jsonio.dumps(report, indent=2) + "\n")
    except OSError as err:
        raise PyboxError(f"bench: --json {path}: {err.strerror}") from None


def check_plot():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PyboxError("bench: --plot needs matplotlib (pip install 'pybox[plot]' or matplotlib)") from None


def plot(path, report):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for e in report["runtimes"]:
        left.plot(range(1, len(e["latencies_ms"]) + 1), e["latencies_ms"], label=e["runtime"], linewidth=0.8)
        right.bar(e["runtime"], e["memory_per_container_kib"])
    left.set_xlabel("container")
    left.set_ylabel("create + start, ms")
    left.legend()
    right.set_ylabel("host memory per container, KiB")
    fig.suptitle(f"pybox bench density, N={report['count']}")
    fig.tight_layout()
    fig.savefig(path)
