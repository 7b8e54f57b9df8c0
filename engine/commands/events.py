"""pybox events [--since T] [--until T] [--format json] [--stream=false]: the engine's events.

Read from the events log the engine appends to (engine/events.py): create, start, die (with the
exit code) and destroy of every container. As docker's, it follows new events until Ctrl-C
unless --until is given (or --stream=false, podman's); without --since, it shows only what
happens from now on, as docker's does.
"""

from pybox.args import Parser
from pybox.errors import PyboxError

parser = Parser("events", [
    "--since = # events from this time on: a Unix time, RFC 3339, or a duration ago (10m, 1h)",
    "--until = # events up to this time (same forms); then exit",
    "--format = # json: one docker-shaped JSON object per line; default a line of text each",
    "--stream # follow new events (default true; --stream=false prints what there is and exits)",
    "--filter -f * # container=NAME|ID, event=ACTION, type=container, label=K[=V], image=REF;"
    " repeated: values of one key OR (label's AND), keys AND (docker's rule)",
], usage="events [--since T] [--until T] [--filter K=V]... [--format json]",
    description="Show container events: create, start, die, destroy.")
FILTERS = ("container", "event", "type", "label", "image")
POLL = 0.1


def parse_time(text, flag):
    """A Unix time (seconds, maybe fractional), RFC 3339, or a Go duration before now."""
    import calendar
    import time
    try:
        return float(text)
    except ValueError:
        pass
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    stamp, _, fraction = text.rstrip("Z").partition(".")
    try:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))
    except ValueError:
        raise PyboxError(f"events {flag} {text!r}: expected a Unix time, RFC 3339 or a duration like 10m") from None


def parse_filters(texts):
    filters = {}
    for text in texts:
        key, eq, value = text.partition("=")
        if not eq or key not in FILTERS:
            raise PyboxError(f"events: --filter {text!r}: give KEY=VALUE, KEY one of {', '.join(FILTERS)}")
        filters.setdefault(key, []).append(value)
    return filters


def matches(event, filters):
    """docker's daemon/events/filter.go: container is a name or ID or a prefix of either
    (FuzzyMatch), event and type exact, image the name as given or without its tag, label
    K or K=V among the attributes (every label filter must match)."""
    attrs = attributes(event)
    tests = {
        "container": lambda v: event["ID"].startswith(v) or attrs["name"].startswith(v),
        "event": lambda v: event["Action"] == v,
        "type": lambda v: event.get("Type", "container") == v,
        "image": lambda v: v in (attrs["image"], _familiar(attrs["image"])),
        "label": lambda v: _has_label(attrs, v),
    }
    return all((all if key == "label" else any)(tests[key](v) for v in values)
               for key, values in filters.items())


def _has_label(attrs, text):
    key, eq, value = text.partition("=")
    return key in attrs and (not eq or attrs[key] == value)


def _familiar(image):
    """docker's stripTag: the reference's short name, without tag or digest (busybox)."""
    from pybox.images.reference import DOCKER_HUB, parse
    try:
        ref = parse(image)
    except PyboxError:
        return image
    if ref.registry != DOCKER_HUB:
        return ref.name
    return ref.repository.removeprefix("library/")


def attributes(event):
    """Actor.Attributes: the container's labels and the action's own, then image and name."""
    return {**(event.get("Attributes") or {}), "image": event.get("Image", ""), "name": event.get("Name", "")}


def docker_json(event):
    attrs = attributes(event)
    return {"status": event["Action"], "id": event["ID"], "from": event.get("Image", ""),
            "Type": event.get("Type", "container"), "Action": event["Action"],
            "Actor": {"ID": event["ID"], "Attributes": attrs}, "scope": "local",
            "time": event["time"], "timeNano": event["timeNano"]}


def text_line(event):
    import time
    nano = event["timeNano"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(nano // 10**9)) + f".{nano % 10**9:09d}Z"
    attrs = attributes(event)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
    return f"{stamp} {event.get('Type', 'container')} {event['Action']} {event['ID']} ({shown})"


def main(g, argv):
    import time
    from pybox import jsonio
    from pybox.engine import events
    from pybox.engine.lifecycle import open_store
    _, v = parser.parse(argv)
    if v["format"] not in (None, "json"):
        raise PyboxError(f"events: --format must be json, not {v['format']!r}")
    filters = parse_filters(v["filter"])
    since = parse_time(v["since"], "--since") if v["since"] else None
    until = parse_time(v["until"], "--until") if v["until"] else None
    follow = until is None and not any(a in ("--stream=false", "--stream=0") for a in argv)
    if since is None and follow:
        since = time.time()  # docker's: streaming without --since shows what happens from now on
    reader = events.Reader(open_store())
    while True:
        for event in reader.read():
            t = event.get("timeNano", 0) / 1e9
            if since is not None and t < since or until is not None and t > until or not matches(event, filters):
                continue
            print(jsonio.dumps(docker_json(event)) if v["format"] == "json" else text_line(event), flush=True)
        if not follow and (until is None or time.time() > until):
            return 0
        time.sleep(POLL)
