"""pybox-runc list [--format table|json] [-q]"""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("list", ["--format -f = # table (default) or json",
                        "--quiet -q # print only the container ids"], usage="list [--format table|json] [-q]")


def main(g, argv):
    from pybox import jsonio
    from pybox.runtime.state import Record, all_ids
    _, v = parser.parse(argv)
    fmt = v["format"] or "table"
    if fmt not in ("table", "json"):
        raise PyboxError(f"list: --format must be table or json, not {fmt!r}")
    states = []
    for cid in all_ids(g.root):
        record = Record(g.root, cid)
        if record.exists():
            try:
                states.append(record.load().oci_state())
            except PyboxError:
                continue
    if v["quiet"]:
        print("\n".join(s["id"] for s in states))
    elif fmt == "json":
        print(jsonio.dumps(states))
    else:
        _table(states)
    return 0


def _table(states):
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
             for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
