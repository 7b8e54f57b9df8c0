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
    print(f"{report['count']} containers per runtime, {report.get('parallel', 1)} at a time, network "
          f"{report.get('network', 'none')}; {m['cpus']} CPUs, {m['memory_mib']} MiB, "
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
    if report.get("network_note"):
        print(f"note: {report['network_note']}")
        for e in report["runtimes"]:
            n = e["network"]
            print(f"bridge: {e['runtime']}: {n['ports']} ports; extra per container: attach p50 "
                  f"{_cell(n['attach_ms']['p50'])} ms (p90 {_cell(n['attach_ms']['p90'])}), "
                  f"{_cell(n['memory_per_container_kib'])} KiB ({_cell(n['slab_per_container_kib'])} KiB slab); "
                  f"detach all {n['detach_all_seconds']} s")


def frontend_table(report):
    m = report["machine"]
    print(f"{report['count']} detached containers per front end (--network none, with conmon), "
          f"{report['parallel']} at a time; {m['cpus']} CPUs, {m['memory_mib']} MiB, kernel {m['kernel']}")
    header = ("front end", "started", "per s", "p50 ms", "p90 ms", "p99 ms", "KiB/ctr", "cgroup KiB",
              "conmon RSS KiB", "conmon PSS KiB", "other procs", "remove s", "failed", "left")
    rows = []
    for e in report["runtimes"]:
        lat, mon = e["latency_ms"], e["monitor"]
        rows.append((e["runtime"], e["started"], _cell(e["containers_per_second"]), _cell(lat["p50"]),
                     _cell(lat["p90"]), _cell(lat["p99"]), _cell(e["memory_per_container_kib"]),
                     _cell(e["cgroup_charge_per_container_kib"]), _cell(mon["rss_kib"]), _cell(mon["pss_kib"]),
                     _cell(e["other_processes_per_container"]), _cell(e["remove_all_seconds"]), e["failures"],
                     len(e["left_behind"])))
    _table(header, rows)
    for e in report["runtimes"]:
        kept = ", ".join(f"{k} {v}" for k, v in e["processes_per_container"].items())
        print(f"processes per container: {e['runtime']}: {kept or 'none'}")
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


def check_plot(path):
    """Before the run: matplotlib is there and the PNG's directory too."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PyboxError("bench: --plot needs matplotlib (pip install 'pybox[plot]' or matplotlib)") from None
    import os
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise PyboxError(f"bench: --plot {path}: no such directory")


def plot(path, report):
    """Two panels, a line per runtime: each container's create-to-running latency against its
    index, and host memory used (MemAvailable's drop since the first) against containers started."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for e in report["runtimes"]:
        left.plot(range(1, len(e["latencies_ms"]) + 1), e["latencies_ms"], label=e["runtime"], linewidth=0.8)
        curve = e["memory_curve_kib"]
        right.plot([n for n, _ in curve], [kib / 1024 for _, kib in curve], label=e["runtime"], marker=".")
    left.set_xlabel("container (in the order they came up)")
    left.set_ylabel("start latency, ms")
    left.legend()
    right.set_xlabel("containers running")
    right.set_ylabel("host memory used, MiB (MemAvailable drop)")
    right.legend()
    kind = "--frontend" if report.get("frontend") else "density"
    fig.suptitle(f"pybox bench {kind}, N={report['count']}, {report.get('parallel', 1)} at a time")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as err:
        raise PyboxError(f"bench: --plot {path}: {err.strerror}") from None
    finally:
        plt.close(fig)
