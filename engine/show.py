"""What ps and inspect print, in docker's shapes."""

from pybox.engine.containers import seconds_since  # noqa: F401 (part of what show offers)
from pybox.engine.lifecycle import runtime_record, status_of

ZERO_TIME = "0001-01-01T00:00:00Z"  # docker's time for "never"


def duration(seconds):
    """docker's units: "Less than a second", "5 seconds", "About a minute", "3 hours"."""
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return "Less than a second"
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return "Less than a second"


def status_text(root, box):
    status = status_of(root, box)
    if status == "running":
        return "Up " + duration(seconds_since(box.data.get("started")))
    if status == "paused":
        return "Up " + duration(seconds_since(box.data.get("started"))) + " (Paused)"
    if status == "exited":
        since = duration(seconds_since(box.finished_at()))
        return f"Exited ({box.exit_code() or 0}) {since} ago"
    if status == "unknown":
        return "Unknown (no runtime state under its --root)"
    return "Created"


def ports_text(box):
    return ", ".join(f"{ip}:{host}->{ctr}/{proto}" for ip, host, ctr, proto in box.data.get("ports") or [])


def command_text(box, width=20):
    text = " ".join(box.data.get("command") or [])
    return '"' + (text if len(text) <= width else text[:width - 1] + "…") + '"'


def ps_row(root, box):
    return {"ID": box.id, "Image": box.data["image"], "Command": " ".join(box.data.get("command") or []),
            "Created": box.data.get("created"), "State": status_of(root, box),
            "Status": status_text(root, box), "Ports": ports_text(box), "Names": box.name,
            "ExitCode": box.exit_code()}


def ps_table(root, boxes):
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")]
    for box in boxes:
        rows.append((box.id[:12], box.data["image"], command_text(box),
                     duration(seconds_since(box.data.get("created"))) + " ago",
                     status_text(root, box), ports_text(box), box.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def inspect(root, box):
    """The fields of `docker inspect` that pybox knows."""
    from pybox.gotemplate import Map
    data = box.data
    record = runtime_record(root, box)
    status = status_of(root, box)
    lease = data.get("lease") or {}
    config = config_of(box)
    process = config.get("process") or {}
    return {
        "Id": box.id, "Name": "/" + box.name, "Created": data.get("created"),
        "Path": (data.get("command") or [""])[0], "Args": (data.get("command") or [])[1:],
        "State": {"Status": status, "Running": status in ("running", "paused"),
                  "Paused": status == "paused",
                  "Pid": record.data.get("pid", 0) if record and status in ("running", "paused") else 0,
                  "OOMKilled": bool(data.get("oom_killed")), "Dead": False,
                  "ExitCode": box.exit_code() or 0, "Error": data.get("error") or "",
                  "StartedAt": data.get("started") or ZERO_TIME,
                  "FinishedAt": box.finished_at() or ZERO_TIME},
        "Image": data.get("image_id"), "ImageName": data.get("image"), "LogPath": data.get("log_path"),
        "Config": {"Hostname": data.get("hostname"), "Env": process.get("env"),
                   "Cmd": data.get("command"), "WorkingDir": process.get("cwd"),
                   "Tty": bool(data.get("tty")), "OpenStdin": bool(data.get("interactive")),
                   "StopSignal": data.get("stop_signal"), "Labels": Map(config.get("annotations") or {})},
        "RestartCount": data.get("restart_count", 0),
        "HostConfig": {"NetworkMode": data.get("network"), "AutoRemove": bool(data.get("rm")),
                       "RestartPolicy": dict(zip(("Name", "MaximumRetryCount"), data.get("restart") or ["no", 0])),
                       "Resources": (config.get("linux") or {}).get("resources") or {}},
        "NetworkSettings": {"IPAddress": lease.get("address") or "", "Gateway": lease.get("gateway") or "",
                            "IPPrefixLen": lease.get("prefix") or 0, "MacAddress": lease.get("mac") or "",
                            "Ports": {f"{c}/{p}": [{"HostIp": ip, "HostPort": str(h)}]
                                      for ip, h, c, p in data.get("ports") or []}},
        "Mounts": [_mount(m) for m in config.get("mounts") or [] if m.get("type") == "bind"
                   and not m["source"].startswith(box.bundle)],
        "Bundle": box.bundle,
    }


def _mount(m):
    """docker's shape of a bind mount (the OCI config's has lower-case keys and options)."""
    options = m.get("options") or []
    propagation = next((o for o in options if o in ("rprivate", "private", "rshared", "shared",
                                                    "rslave", "slave")), "rprivate")
    return {"Type": "bind", "Source": m.get("source"), "Destination": m.get("destination"),
            "Mode": "", "RW": "ro" not in options, "Propagation": propagation}


def config_of(box):
    from pybox import jsonio
    try:
        return jsonio.load_file(box.path("config.json"))
    except (OSError, ValueError):
        return {}
