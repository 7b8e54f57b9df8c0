"""pybox-runc events [--stats] [--interval 5s] ID: resource statistics and OOM notices, as JSON lines.

--stats prints one {"type": "stats", "id": ID, "data": {...}} snapshot (runc's shape). Without it,
a snapshot every interval plus {"type": "oom", "id": ID} whenever the kernel OOM-kills in the
container, until the container's cgroup is gone.
"""

import time

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("events", ["--stats # print one statistics record and exit",
                          "--interval = # seconds between statistics records (default 5s)"], positionals=["id"],
                usage="events [--stats] [--interval 5s] <container-id>")

OOM_POLL = 0.1  # seconds between checks of the OOM counter, so notices are prompt
DURATION_UNITS = (("ms", 0.001), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("h", 3600.0), ("m", 60.0),
                  ("s", 1.0))


def parse_interval(text):
    """A Go duration as runc takes it: "5s", "100ms", "1m30s"."""
    rest, total = text.strip(), 0.0
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789."))
        unit = next((u for u in DURATION_UNITS if rest[digits:].startswith(u[0])), None)
        if digits == 0 or unit is None:
            raise PyboxError(f"events: --interval: invalid duration {text!r} (such as 5s or 500ms)")
        total += float(rest[:digits]) * unit[1]
        rest = rest[digits + len(unit[0]):]
    if total <= 0:
        raise PyboxError("events: --interval: duration must be greater than 0")
    return total


def event_line(kind, container_id, data=None):
    from pybox import jsonio
    event = {"type": kind, "id": container_id}
    if data is not None:
        event["data"] = data
    return jsonio.dumps(event)


def run_events(mgr, container_id, values, write, alive=lambda: True):
    """write(line) each event; stream until the cgroup (or alive()) ends unless --stats."""
    if values["stats"]:
        write(event_line("stats", container_id, mgr.stats()))
        return
    interval = parse_interval(values["interval"] or "5s")
    ooms = mgr.oom_count()
    next_stats = time.monotonic()
    while alive() and mgr.exists():
        count = mgr.oom_count()
        if count > ooms:
            write(event_line("oom", container_id))
            ooms = count
        if time.monotonic() >= next_stats:
            write(event_line("stats", container_id, mgr.stats()))
            next_stats += interval
        time.sleep(min(OOM_POLL, max(0.0, next_stats - time.monotonic())))


def main(g, argv):
    from pybox.cgroups import load_manager
    from pybox.runtime import status as st
    from pybox.runtime.state import open_existing
    _, values = parser.parse(argv)
    cid = values["id"]
    record = open_existing(g.root, cid)
    if record.status() == st.STOPPED:
        raise PyboxError(f"events: container with id {cid} is not running")
    if not record.data.get("cgroup"):
        raise PyboxError(f"events: container {cid} has no cgroup")

    def write(line):
        print(line, flush=True)

    run_events(load_manager(record.data["cgroup"]), cid, values, write,
               alive=lambda: record.status() != st.STOPPED)
    return 0
