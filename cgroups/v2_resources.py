"""Writing linux.resources into cgroup v2 files, one function per controller (runc's fs2, crun).

The section comes checked, as a resources.Resources (a dict is parsed first)."""

import math
import os

from pybox.cgroups import files
from pybox.cgroups.resources import THROTTLES, parse
from pybox.errors import PyboxError


def apply(mgr, resources):
    res = parse(resources).check_for(2)
    d = mgr.dir
    for setter in (memory, cpu, cpuset, pids, io, hugetlb, rdma):
        setter(d, res)
    unified(d, res)  # last: explicit key/value pairs win over the translated fields
    if res.devices_given:
        from pybox.cgroups import devices_bpf
        devices_bpf.apply(d, res.devices)


def _write(d, name, value, field):
    """A v2 write; a missing file means the controller is not enabled for this cgroup."""
    if not files.exists(d, name):
        controller = name.split(".")[0]
        raise PyboxError(f"linux.resources.{field}: the {controller} controller is not available in "
                         f"{os.path.dirname(d)}/cgroup.subtree_control")
    files.write(d, name, value, field)


def _max(value):
    return "max" if value == -1 else value


def memory(d, res):
    m = res.memory
    limit, swap = m.limit, m.swap
    if limit and m.check_before_update and limit != -1:
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
    if m.reservation:
        _write(d, "memory.low", _max(m.reservation), "memory.reservation")


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


def cpu(d, res):
    c = res.cpu
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


def cpuset(d, res):
    for key, value in (("cpus", res.cpu.cpus), ("mems", res.cpu.mems)):
        if value:
            _write(d, f"cpuset.{key}", value, f"cpu.{key}")


def pids(d, res):
    limit = res.pids_limit
    if limit:
        _write(d, "pids.max", limit if limit > 0 else "max", "pids.limit")


def blkio_weight_to_io(weight):
    """blkio.weight (10-1000) to io.weight (1-10000), as runc converts it."""
    return 1 + (weight - 10) * 9999 // 990


def io(d, res):
    b = res.block_io
    if not b.given:
        return
    # With BFQ, io.bfq.weight takes the v1 range directly; io.weight needs the conversion.
    bfq = files.exists(d, "io.bfq.weight")
    if b.weight:
        if bfq:
            files.write(d, "io.bfq.weight", b.weight, "blockIO.weight")
        else:
            _write(d, "io.weight", f"default {blkio_weight_to_io(b.weight)}", "blockIO.weight")
    for dev in b.weight_devices:
        if dev.weight:
            name, value = ("io.bfq.weight", dev.weight) if bfq else ("io.weight", blkio_weight_to_io(dev.weight))
            _write(d, name, f"{dev.device} {value}", dev.field)
    for (_, devs), (_, _, v2_name) in zip(b.throttles, THROTTLES):
        for dev in devs:
            _write(d, "io.max", f"{dev.device} {v2_name}={dev.rate or 'max'}", dev.field)


def hugetlb(d, res):
    for page in res.hugepages:
        _write(d, f"hugetlb.{page.size}.max", page.limit, page.field)


def rdma(d, res):
    for _, line, field in res.rdma:
        _write(d, "rdma.max", line, field)


def unified(d, res):
    """linux.resources.unified: cgroup v2 files written as given (each checked to be one)."""
    for key, value, field in res.unified:
        if not files.exists(d, key):
            controller = key.split(".")[0]
            raise PyboxError(f"linux.resources.{field}: no such cgroup v2 file (is the {controller} "
                             "controller enabled, and is this a v2 key rather than a v1 one?)")
        files.write(d, key, value, field)
