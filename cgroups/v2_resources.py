"""Writing linux.resources into cgroup v2 files, one function per controller (runc's fs2, crun)."""

import math
import os

from pybox.cgroups import files, spec
from pybox.cgroups.spec import THROTTLES, devnum, hugepage_limit, number, rdma_line, section, string, unsigned
from pybox.errors import PyboxError

V2_THROTTLE = {"throttleReadBpsDevice": "rbps", "throttleWriteBpsDevice": "wbps",
               "throttleReadIOPSDevice": "riops", "throttleWriteIOPSDevice": "wiops"}


def apply(mgr, resources):
    if not isinstance(resources, dict):
        raise PyboxError("linux.resources: must be an object")
    d = mgr.dir
    for setter in (memory, cpu, cpuset, pids, io, hugetlb, rdma, network):
        setter(d, resources)
    unified(d, resources)  # last: explicit key/value pairs win over the translated fields
    if resources.get("devices") is not None:
        from pybox.cgroups import devices_bpf
        devices_bpf.apply(d, spec.device_rules(resources))


def _write(d, name, value, field):
    """A v2 write; a missing file means the controller is not enabled for this cgroup."""
    if not files.exists(d, name):
        controller = name.split(".")[0]
        raise PyboxError(f"linux.resources.{field}: the {controller} controller is not available in "
                         f"{os.path.dirname(d)}/cgroup.subtree_control")
    files.write(d, name, value, field)


def _max(value):
    return "max" if value == -1 else value


def memory(d, resources):
    mem = section(resources, "memory")
    limit = number(mem, "limit", "memory.limit")
    swap = number(mem, "swap", "memory.swap")
    reservation = number(mem, "reservation", "memory.reservation")
    number(mem, "kernel", "memory.kernel")  # kernel memory is not limited separately on v2
    number(mem, "kernelTCP", "memory.kernelTCP")
    swappiness = number(mem, "swappiness", "memory.swappiness")
    if swappiness not in (None, -1):
        raise PyboxError("linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness")
    if spec.flag(mem, "disableOOMKiller", "memory.disableOOMKiller"):
        raise PyboxError("linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer")
    if limit and mem.get("checkBeforeUpdate") and limit != -1:
        usage = files.read_int(d, "memory.current")
        if usage >= limit:
            raise PyboxError(f"linux.resources.memory.limit: {limit} is below the current usage {usage} "
                             "(checkBeforeUpdate)")
    swap_only = _swap_max(limit, swap)
    # Write swap first when lowering it would not fit under the old memory.max: order is free on v2.
    if swap_only is not None and files.exists(d, "memory.swap.max"):
        files.write(d, "memory.swap.max", _max(swap_only), "memory.swap")
    elif swap_only not in (None, 0, -1):
        raise PyboxError("linux.resources.memory.swap: swap accounting is off in this kernel")
    if limit:
        _write(d, "memory.max", _max(limit), "memory.limit")
    if reservation:
        _write(d, "memory.low", _max(reservation), "memory.reservation")


def _swap_max(limit, swap):
    """OCI's swap is memory+swap (v1's memsw); v2's memory.swap.max counts swap alone."""
    if not swap:
        return -1 if limit == -1 else None
    if swap == -1:
        return -1
    if not limit or limit == -1:
        raise PyboxError("linux.resources.memory.swap: needs memory.limit on cgroup v2")
    if swap < limit:
        raise PyboxError(f"linux.resources.memory.swap: {swap} is below memory.limit {limit}")
    return swap - limit


def shares_to_weight(shares):
    """cpu.shares (2-262144, default 1024) to cpu.weight (1-10000, default 100) on a log scale,
    so 1024 maps to 100: the conversion runc and crun both use now."""
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612.0 - 7.0 / 34.0))


def cpu(d, resources):
    c = spec.CpuFields(resources)
    for value, key in ((c.rt_runtime, "realtimeRuntime"), (c.rt_period, "realtimePeriod")):
        if value:
            raise PyboxError(f"linux.resources.cpu.{key}: cgroup v2 has no realtime CPU budget")
    if c.shares:
        _write(d, "cpu.weight", shares_to_weight(c.shares), "cpu.shares")
    if c.quota or c.period:
        _write(d, "cpu.max", _cpu_max(d, c.quota, c.period), "cpu.quota" if c.quota else "cpu.period")
    if c.burst is not None:
        _write(d, "cpu.max.burst", c.burst, "cpu.burst")
    if c.idle is not None:
        _write(d, "cpu.idle", c.idle, "cpu.idle")


def _cpu_max(d, quota, period):
    """cpu.max holds "quota period"; keep whichever of the two this change leaves out."""
    old_quota, old_period = (files.read(d, "cpu.max") or "max 100000").split()
    new_quota = old_quota if not quota else ("max" if quota < 0 else quota)
    return f"{new_quota} {period or old_period}"


def cpuset(d, resources):
    spec_cpu = section(resources, "cpu")
    for key in ("cpus", "mems"):
        value = string(spec_cpu, key, f"cpu.{key}")
        if value:
            _write(d, f"cpuset.{key}", value, f"cpu.{key}")


def pids(d, resources):
    limit = number(section(resources, "pids"), "limit", "pids.limit")
    if limit:
        _write(d, "pids.max", limit if limit > 0 else "max", "pids.limit")


def blkio_weight_to_io(weight):
    """blkio.weight (10-1000) to io.weight (1-10000), as runc converts it."""
    return 1 + (weight - 10) * 9999 // 990


def io(d, resources):
    blkio = section(resources, "blockIO")
    if not blkio:
        return
    # With BFQ, io.bfq.weight takes the v1 range directly; io.weight needs the conversion.
    bfq = files.exists(d, "io.bfq.weight")
    weight = unsigned(blkio, "weight", "blockIO.weight")
    if weight:
        if bfq:
            files.write(d, "io.bfq.weight", weight, "blockIO.weight")
        else:
            _write(d, "io.weight", f"default {blkio_weight_to_io(weight)}", "blockIO.weight")
    if unsigned(blkio, "leafWeight", "blockIO.leafWeight"):
        raise PyboxError("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weight")
    for i, dev in enumerate(spec.listing(blkio, "weightDevice", "blockIO.weightDevice")):
        field = f"blockIO.weightDevice[{i}]"
        value = unsigned(dev, "weight", f"{field}.weight")
        if value:
            name, value = ("io.bfq.weight", value) if bfq else ("io.weight", blkio_weight_to_io(value))
            _write(d, name, f"{devnum(dev, field)} {value}", field)
    for key, _ in THROTTLES:
        for i, dev in enumerate(spec.listing(blkio, key, f"blockIO.{key}")):
            field = f"blockIO.{key}[{i}]"
            rate = unsigned(dev, "rate", f"{field}.rate")
            _write(d, "io.max", f"{devnum(dev, field)} {V2_THROTTLE[key]}={rate or 'max'}", field)


def hugetlb(d, resources):
    for i, entry in enumerate(spec.listing(resources, "hugepageLimits", "hugepageLimits")):
        size, limit = hugepage_limit(entry, f"hugepageLimits[{i}]")
        _write(d, f"hugetlb.{size}.max", limit, f"hugepageLimits[{i}]")


def rdma(d, resources):
    for device, limits in section(resources, "rdma").items():
        _write(d, "rdma.max", rdma_line(device, limits), f"rdma.{device}")


def network(d, resources):
    if section(resources, "network"):
        raise PyboxError("linux.resources.network: net_cls/net_prio exist only on cgroup v1")


def unified(d, resources):
    """linux.resources.unified: cgroup v2 files written as given, after checking each is one."""
    for key, value in section(resources, "unified").items():
        field = f"unified.{key}"
        if not isinstance(value, str):
            raise PyboxError(f"linux.resources.{field}: the value must be a string")
        if "/" in key or key.startswith(".") or "." not in key or \
                (key.startswith("cgroup.") and key not in ("cgroup.max.depth", "cgroup.max.descendants")):
            raise PyboxError(f"linux.resources.{field}: not a cgroup v2 interface file")
        if not files.exists(d, key):
            controller = key.split(".")[0]
            raise PyboxError(f"linux.resources.{field}: no such cgroup v2 file (is the {controller} "
                             "controller enabled, and is this a v2 key rather than a v1 one?)")
        files.write(d, key, value, field)
