"""pybox ps [-a] [-q] [--no-trunc] [--format table|json]: the containers (docker's ps)."""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("ps", ["--all -a", "--quiet -q", "--format =", "--no-trunc"],
                usage="ps [-a] [-q] [--format table|json]")


def main(g, argv):
    from pybox import jsonio
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import open_store, status_of
    from pybox.engine.options import expand_short
    from pybox.engine.show import ps_row, ps_table
    _, v = parser.parse(expand_short(parser, argv))
    boxes = all_boxes(open_store())
    if not v["all"]:
        boxes = [box for box in boxes if status_of(g.root, box) in ("running", "paused", "unknown")]
    if v["quiet"]:
        if boxes:
            print("\n".join(box.id[:12] if not v["no_trunc"] else box.id for box in boxes))
    elif v["format"] == "json":
        print(jsonio.dumps([ps_row(g.root, box) for box in boxes]))
    elif v["format"] in (None, "table"):
        print(ps_table(g.root, boxes))
    else:
        raise PyboxError(f"ps: --format must be table or json, not {v['format']!r}")
    return 0
