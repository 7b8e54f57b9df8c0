"""pybox ps [-a] [-q] [--no-trunc] [--filter K=V]... [--format table|json|TEMPLATE]: docker's ps."""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("ps", [
    "--all -a # show every container (default: the running ones)",
    "--quiet -q # print only the container ids",
    "--filter -f * # keep the containers that match: status=, name=, label=K[=V], ancestor=, exited=, id="
    " (repeated: values of one key OR, except label's; keys AND)",
    "--format = # table (default), json, or a Go template: '{{.ID}} {{.Names}}', 'table {{.ID}}\\t{{.Status}}'",
    "--no-trunc # do not shorten ids and commands",
    "--latest -l # show only the container created last",
], usage="ps [-a] [-q] [--filter KEY=VALUE]... [--format table|json|TEMPLATE]",
    description="""examples:
  pybox ps                                      the running containers
  pybox ps -a --filter status=exited            the stopped ones
  pybox ps --filter label=app=web --filter name=db
  pybox ps -a --format '{{.Names}} {{.Status}}'
  pybox ps --format 'table {{.ID}}\\t{{.Names}}\\t{{.Image}}'""")

FILTERS = ("status", "name", "label", "ancestor", "exited", "id")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
           "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
           "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
           "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES"}


def main(g, argv):
    from pybox import jsonio
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import open_store, status_of
    from pybox.engine.options import expand_short
    from pybox.engine.show import ps_row, ps_table
    _, v = parser.parse(expand_short(parser, argv))
    filters = parse_filters(v["filter"])
    fmt = v["format"]
    if fmt not in (None, "table", "json"):
        from pybox.gotemplate import parse
        parse(fmt[len("table"):] if fmt.startswith("table") else fmt)  # a bad template fails before any work
    boxes = all_boxes(open_store())
    states = {box.id: status_of(g.root, box) for box in boxes}
    show_all = v["all"] or "status" in filters  # docker: a status filter looks at every container
    if not show_all:
        boxes = [box for box in boxes if states[box.id] in ("running", "paused", "unknown")]
    boxes = [box for box in boxes if matches(box, states[box.id], filters)]
    if v["latest"]:
        boxes = sorted(boxes, key=lambda b: b.data.get("created") or "")[-1:]
    if v["quiet"]:
        if boxes:
            print("\n".join(box.id[:12] if not v["no_trunc"] else box.id for box in boxes))
    elif fmt == "json":
        print(jsonio.dumps([ps_row(g.root, box) for box in boxes]))
    elif fmt in (None, "table"):
        print(ps_table(g.root, boxes))
    else:
        rows = [template_row(g.root, box, v["no_trunc"]) for box in boxes]
        from pybox.gotemplate import render, table
        if fmt.startswith("table"):
            print(table(fmt, rows, HEADERS))
        else:
            for row in rows:
                print(render(fmt, row))
    return 0


def parse_filters(texts):
    filters = {}
    for text in texts:
        key, eq, value = text.partition("=")
        key = key.strip().lower()
        if not eq or key not in FILTERS:
            raise PyboxError(f"ps: --filter {text!r}: give KEY=VALUE, KEY one of {', '.join(FILTERS)}")
        if key == "status" and value not in STATUSES:
            raise PyboxError(f"ps: --filter status={value!r}: give one of {', '.join(STATUSES)}")
        if key == "exited" and not value.lstrip("-").isdigit():
            raise PyboxError(f"ps: --filter exited={value!r}: give an exit code (a number)")
        filters.setdefault(key, []).append(value)
    return filters


def matches(box, state, filters):
    """docker's rule: every key must match; within a key, any of its values (every one for label)."""
    import re
    tests = {
        "status": lambda value: value == state,
        "name": lambda value: re.search(value, box.name) is not None,
        "id": lambda value: box.id.startswith(value),
        "label": lambda value: _has_label(box, value),
        "ancestor": lambda value: _is_ancestor(box, value),
        "exited": lambda value: state == "exited" and (box.exit_code() or 0) == int(value),
    }
    for key, values in filters.items():
        combine = all if key == "label" else any  # docker's MatchKVList: every label must match
        try:
            if not combine(tests[key](value) for value in values):
                return False
        except re.error as err:
            raise PyboxError(f"ps: --filter name={values[0]!r}: not a regular expression ({err})") from None
    return True


def _labels(box):
    from pybox.engine.show import config_of
    return config_of(box).get("annotations") or {}


def _has_label(box, text):
    key, eq, value = text.partition("=")
    labels = _labels(box)
    return key in labels and (not eq or labels[key] == value)


def _is_ancestor(box, ref):
    image = box.data.get("image") or ""
    image_id = (box.data.get("image_id") or "").removeprefix("sha256:")
    if ref in (image, image + ":latest") or (":" not in ref.rpartition("/")[2] and image == ref + ":latest"):
        return True
    digits = ref.removeprefix("sha256:")
    return len(digits) >= 4 and image_id.startswith(digits)


def template_row(root, box, no_trunc):
    """The fields docker's ps templates use ({{.ID}}, {{.Names}}, {{.Label "k"}}, ...)."""
    import time
    from pybox.engine.show import command_text, duration, ports_text, seconds_since, status_text
    from pybox.engine.lifecycle import status_of
    from pybox.gotemplate import Map
    labels = _labels(box)
    created = box.data.get("created") or ""
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        stamp = created
    command = " ".join(box.data.get("command") or [])
    return Map({
        "ID": box.id if no_trunc else box.id[:12], "Image": box.data.get("image") or "",
        "Command": f'"{command}"' if no_trunc else command_text(box),
        "CreatedAt": stamp, "RunningFor": duration(seconds_since(created)) + " ago",
        "Ports": ports_text(box), "State": status_of(root, box), "Status": status_text(root, box),
        "Size": "", "Names": box.name, "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "Label": lambda key: labels.get(key, ""), "Mounts": "", "LocalVolumes": "0",
        "Networks": box.data.get("network") or "",
    })
