"""pybox-runc update [--resources FILE|-] [runc's limit flags] ID: change a running container's limits."""

from pybox.errors import PyboxError
from pybox.args import Parser

# flag -> (section, key, parse); the flags runc's `update` takes, with its spellings.
FLAGS = {
    "memory": ("memory", "limit", "size"),
    "memory_swap": ("memory", "swap", "size"),
    "memory_reservation": ("memory", "reservation", "size"),
    "kernel_memory": ("memory", "kernel", "size"),
    "kernel_memory_tcp": ("memory", "kernelTCP", "size"),
    "cpu_quota": ("cpu", "quota", "int"),
    "cpu_period": ("cpu", "period", "uint"),
    "cpu_burst": ("cpu", "burst", "uint"),
    "cpu_share": ("cpu", "shares", "uint"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", "int"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "uint"),
    "cpu_idle": ("cpu", "idle", "int"),
    "cpuset_cpus": ("cpu", "cpus", "str"),
    "cpuset_mems": ("cpu", "mems", "str"),
    "pids_limit": ("pids", "limit", "int"),
    "blkio_weight": ("blockIO", "weight", "uint"),
}

parser = Parser("update", ["--resources -r = # the new resources as OCI JSON (linux.resources); - for stdin"]
                + [f"--{f.replace('_', '-')} = # set linux.resources.{s}.{k}" for f, (s, k, _) in FLAGS.items()]
                + ["--cpu-shares = # set linux.resources.cpu.shares",
                   "--l3-cache-schema = # set linux.intelRdt.l3CacheSchema",
                   "--mem-bw-schema = # set linux.intelRdt.memBwSchema"],
                positionals=["id"], usage="update [options] <container-id>")


def parse_size(text, flag="size"):
    """runc's RAMInBytes (pybox.units.parse_size); "-1" means unlimited."""
    from pybox.units import parse_size as bytes_of
    if text.strip() == "-1":
        return -1
    try:
        return bytes_of(text)
    except ValueError:
        raise PyboxError(f"update: --{flag}: invalid size {text!r} (use bytes or 256m, 1g, ...)") from None


def _parse(kind, text, flag):
    if kind == "size":
        return parse_size(text, flag)
    if kind == "str":
        return text
    try:
        value = int(text)
    except ValueError:
        raise PyboxError(f"update: --{flag}: {text!r} is not a number") from None
    if kind == "uint" and value < 0:
        raise PyboxError(f"update: --{flag}: must not be negative")
    return value


def resources_from(values, read_stdin=None):
    """The linux.resources changes the options ask for."""
    resources = _resources_file(values["resources"], read_stdin) if values["resources"] else {}
    if values.get("cpu_shares") and not values.get("cpu_share"):
        values["cpu_share"] = values["cpu_shares"]
    for dest, (section, key, kind) in FLAGS.items():
        if values.get(dest) is not None:
            flag = dest.replace("_", "-")
            resources.setdefault(section, {})[key] = _parse(kind, values[dest], flag)
    if values.get("l3_cache_schema") or values.get("mem_bw_schema"):
        raise PyboxError("update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported")
    # Device rules stay as created, as with runc: rewriting them would briefly deny every device.
    resources.pop("devices", None)
    return resources


def _resources_file(path, read_stdin):
    from pybox import jsonio
    try:
        if path == "-":
            import sys
            text = read_stdin() if read_stdin else sys.stdin.read()
        else:
            with open(path) as f:
                text = f.read()
        resources = jsonio.loads(text)
    except OSError as err:
        raise PyboxError(f"update: --resources {path}: {err.strerror}") from None
    except ValueError as err:
        raise PyboxError(f"update: --resources {path}: invalid JSON: {err}") from None
    if not isinstance(resources, dict):
        raise PyboxError(f"update: --resources {path}: must hold a linux.resources object")
    return resources


def run_update(mgr, values):
    """Apply the changes the parsed options ask for; returns them."""
    resources = resources_from(values)
    mgr.update(resources)
    return resources


def main(g, argv):
    from pybox.cgroups import load_manager
    from pybox.runtime import status as st
    from pybox.runtime.state import open_existing
    _, values = parser.parse(argv)
    cid = values["id"]
    resources = resources_from(values)
    record = open_existing(g.root, cid)
    st.require("update", record.status(), cid)
    if not record.data.get("cgroup"):
        raise PyboxError(f"update {cid}: the container has no cgroup")
    try:
        load_manager(record.data["cgroup"]).update(resources)
    except PyboxError as err:
        raise err.within(f"update {cid}") from None
    return 0
