"""pybox stats [--no-stream] [--format json] [CONTAINER...]: CPU, memory and pids from the cgroup.

One sample, as docker's --no-stream: CPU % is measured over half a second.
"""

from pybox.args import Parser

parser = Parser("stats", ["--no-stream # print once and exit", "--all -a # every container, not only running ones",
                          "--format = # table (default) or json"], rest="containers",
                usage="stats [--no-stream] [--format json] [CONTAINER...]")
INTERVAL = 0.5


def main(g, argv):
    import time
    from pybox import jsonio
    from pybox.engine.containers import all_boxes, resolve
    from pybox.engine.lifecycle import open_store, runtime_record, status_of
    _, v = parser.parse(argv)
    store = open_store()
    boxes = [resolve(store, ref) for ref in v["containers"]] or all_boxes(store)
    running = [(box, runtime_record(g.root, box)) for box in boxes if status_of(g.root, box) == "running"]
    before = {box.id: _sample(record) for box, record in running}
    time.sleep(INTERVAL)
    rows = [_row(box, before[box.id], _sample(record)) for box, record in running]
    if v["format"] == "json":
        print(jsonio.dumps(rows))
    else:
        _table(rows)
    return 0


def _sample(record):
    import time
    from pybox.cgroups import load_manager
    stats = load_manager(record.data["cgroup"]).stats()
    return time.monotonic(), stats


def _row(box, before, after):
    import os
    (t0, s0), (t1, s1) = before, after
    used = s1["cpu"]["usage"]["total"] - s0["cpu"]["usage"]["total"]
    cpu = 100.0 * used / ((t1 - t0) * 1e9) if t1 > t0 else 0.0
    memory = s1.get("memory", {}).get("usage", {})
    limit = min(memory.get("limit", 0) or 1 << 62, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    usage = memory.get("usage", 0)
    return {"ID": box.id[:12], "Name": box.name, "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{_human(usage)} / {_human(limit)}", "MemPerc": f"{100.0 * usage / limit:.2f}%",
            "PIDs": str(s1.get("pids", {}).get("current", 0))}


def _human(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.4g}{unit}"
        size /= 1024


def _table(rows):
    header = ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS")
    cells = [header] + [(r["ID"], r["Name"], r["CPUPerc"], r["MemUsage"], r["MemPerc"], r["PIDs"]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for c in cells:
        print("   ".join(cell.ljust(w) for cell, w in zip(c, widths)).rstrip())
