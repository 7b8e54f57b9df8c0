"""pybox info [--format json]: the host, the store and the runtime, in podman info's field names."""

from pybox.args import Parser

parser = Parser("info", ["--format -f = # json, or the default YAML-style text"], usage="info [--format json]",
                description="Show the host (kernel, cgroups), the runtime, conmon and the image store.")


def gather(g):
    import os
    from pybox.cgroups.hierarchy import discover
    from pybox.engine.commands.version import go_arch, version_fields
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import open_store, pybox_executable, status_of
    store = open_store()
    mode, hierarchies = discover()
    counts = {"number": 0, "paused": 0, "running": 0, "stopped": 0}
    for box in all_boxes(store):
        counts["number"] += 1
        status = status_of(g.root, box)
        key = status if status in ("paused", "running") else "stopped"
        counts[key] += 1
    controllers = sorted(key for key in hierarchies if key) if mode != "unified" else _v2_controllers()
    runtime = pybox_executable("pybox-runc")
    host = {"arch": go_arch(), "os": os.uname().sysname.lower(), "kernel": os.uname().release,
            "hostname": os.uname().nodename, "cpus": os.cpu_count(),
            "cgroupManager": "cgroupfs", "cgroupVersion": "v2" if mode == "unified" else "v1",
            "cgroupMode": mode, "cgroupControllers": controllers,
            "ociRuntime": {"name": "pybox-runc", "path": runtime, "version": version_fields()["Version"]},
            "conmon": _conmon(), "logDriver": "k8s-file", "eventLogger": "file"}
    from pybox.userns import rootless_uid
    host["security"] = {"rootless": rootless_uid() is not None}
    if rootless_uid() is not None:  # the pause process's maps, which this command runs in
        host["idMappings"] = {"uidmap": _id_map("uid_map"), "gidmap": _id_map("gid_map")}
    store_info = {"graphRoot": store.path(), "runRoot": os.path.abspath(g.root), "graphDriverName": "overlay",
                  "containerStore": counts, "imageStore": {"number": len(store.images())}}
    return {"host": host, "store": store_info, "version": version_fields()}


def _id_map(name):
    with open(f"/proc/self/{name}") as f:
        return [dict(zip(("container_id", "host_id", "size"), map(int, line.split()))) for line in f]


def _v2_controllers():
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            return f.read().split()
    except OSError:
        return []


def _conmon():
    import shutil
    import subprocess
    path = shutil.which("conmon") or ""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return {"path": path, "version": out.splitlines()[0] if out else ""}


def yaml_text(value, indent=0):
    """The nested fields as podman info prints them (a YAML subset)."""
    lines = []
    pad = "  " * indent
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines += yaml_text(item, indent + 1)
        elif isinstance(item, list):
            lines.append(f"{pad}{key}:")
            lines += [f"{pad}- {entry}" for entry in item]
        else:
            lines.append(f"{pad}{key}: {item}")
    return lines


def main(g, argv):
    from pybox import jsonio
    from pybox.errors import PyboxError
    _, v = parser.parse(argv)
    if v["format"] not in (None, "json"):
        raise PyboxError(f"info: --format must be json, not {v['format']!r}")
    info = gather(g)
    print(jsonio.dumps(info, indent=2) if v["format"] == "json" else "\n".join(yaml_text(info)))
    return 0
