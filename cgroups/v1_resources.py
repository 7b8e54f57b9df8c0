"""Writing linux.resources into cgroup v1 files, one function per controller (runc's fs package).

The section comes checked, as a resources.Resources (a dict is parsed first)."""

import os

from pybox.cgroups import files
from pybox.cgroups.resources import THROTTLES, parse
from pybox.errors import PyboxError


def apply(mgr, resources):
    res = parse(resources).check_for(1)
    for setter in (devices, memory, cpu, cpuset, pids, block_io, hugetlb, network, rdma):
        setter(mgr, res)


def _dir(mgr, controller, field):
    directory = mgr.dir_of(controller)
    if directory is None:
        raise PyboxError(f"linux.resources.{field}: the {controller} cgroup controller is not mounted")
    return directory


def devices(mgr, res):
    if not res.devices:
        return
    directory = _dir(mgr, "devices", "devices")
    for i, rule in enumerate(res.devices):
        files.write(directory, "devices.allow" if rule.allow else "devices.deny", rule.v1_line(),
                    f"devices[{i}]")


def memory(mgr, res):
    m = res.memory
    limit, swap, swappiness = m.limit, m.swap, m.swappiness
    if not (limit or swap or m.reservation or m.kernel_tcp or m.disable_oom_killer or swappiness is not None):
        return
    directory = _dir(mgr, "memory", "memory")
    if limit and m.check_before_update and limit != -1:
        _check_usage_below(directory, limit)
    _set_limit_and_swap(directory, limit, swap)
    if m.reservation:
        files.write(directory, "memory.soft_limit_in_bytes", m.reservation, "memory.reservation")
    if m.kernel_tcp:
        files.write(directory, "memory.kmem.tcp.limit_in_bytes", m.kernel_tcp, "memory.kernelTCP")
    if m.disable_oom_killer:
        files.write(directory, "memory.oom_control", 1, "memory.disableOOMKiller")
    if swappiness is not None and swappiness != -1:
        files.write(directory, "memory.swappiness", swappiness, "memory.swappiness")


def _check_usage_below(directory, limit):
    usage = files.read_int(directory, "memory.usage_in_bytes")
    if usage >= limit:
        raise PyboxError(f"linux.resources.memory.limit: {limit} is below the current usage {usage} "
                         "(checkBeforeUpdate)")


def _set_limit_and_swap(directory, limit, swap):
    """memory.memsw (memory+swap) must never drop below memory.limit, so order the two writes."""
    if limit == -1 and not swap:
        swap = -1  # unlimited memory with swap unset means unlimited swap too, as in runc
    if swap and not files.exists(directory, "memory.memsw.limit_in_bytes"):
        if swap == -1 and limit == -1:
            swap = None
        else:
            raise PyboxError("linux.resources.memory.swap: swap accounting is off in this kernel")
    writes = []
    if limit:
        writes.append(("memory.limit_in_bytes", limit, "memory.limit"))
    if swap:
        current = files.read_int(directory, "memory.limit_in_bytes")
        memsw = ("memory.memsw.limit_in_bytes", swap, "memory.swap")
        raising = swap == -1 or current < swap
        writes = [memsw] + writes if raising else writes + [memsw]
    for name, value, field in writes:
        files.write(directory, name, value, field)


def cpu(mgr, res):
    c = res.cpu
    if c.empty():
        return
    directory = _dir(mgr, "cpu", "cpu")
    if c.shares:
        files.write(directory, "cpu.shares", c.shares, "cpu.shares")
        actual = files.read_int(directory, "cpu.shares")
        if actual != c.shares:
            raise PyboxError(f"linux.resources.cpu.shares: {c.shares} is out of range; the kernel set {actual}")
    _write_pair(directory, ("cpu.cfs_period_us", c.period, "cpu.period"),
                ("cpu.cfs_quota_us", c.quota, "cpu.quota"))
    if c.burst is not None:
        files.write(directory, "cpu.cfs_burst_us", c.burst, "cpu.burst")
    _write_pair(directory, ("cpu.rt_period_us", c.rt_period, "cpu.realtimePeriod"),
                ("cpu.rt_runtime_us", c.rt_runtime, "cpu.realtimeRuntime"))
    if c.idle is not None:
        files.write(directory, "cpu.idle", c.idle, "cpu.idle")


def _write_pair(directory, first, second):
    """Period and quota (or runtime) constrain each other; if one order fails, try the other."""
    pending = [w for w in (first, second) if w[1]]
    try:
        for name, value, field in pending:
            files.write(directory, name, value, field)
    except PyboxError:
        if len(pending) < 2:
            raise
        for name, value, field in reversed(pending):
            files.write(directory, name, value, field)


def cpuset(mgr, res):
    cpus, mems = res.cpu.cpus, res.cpu.mems
    if cpus or mems:
        directory = _dir(mgr, "cpuset", "cpu.cpus" if cpus else "cpu.mems")
        if cpus:
            files.write(directory, "cpuset.cpus", cpus, "cpu.cpus")
        if mems:
            files.write(directory, "cpuset.mems", mems, "cpu.mems")


def pids(mgr, res):
    limit = res.pids_limit
    if limit:  # 0 means unset, as in runc
        files.write(_dir(mgr, "pids", "pids"), "pids.max", limit if limit > 0 else "max", "pids.limit")


def block_io(mgr, res):
    b = res.block_io
    if not b.given:
        return
    directory = _dir(mgr, "blkio", "blockIO")
    # BFQ replaced CFQ: its files take the same 1-1000 range when blkio.weight is gone.
    bfq = not files.exists(directory, "blkio.weight") and files.exists(directory, "blkio.bfq.weight")
    prefix = "blkio.bfq." if bfq else "blkio."
    if b.weight:
        files.write(directory, prefix + "weight", b.weight, "blockIO.weight")
    if b.leaf_weight:
        files.write(directory, "blkio.leaf_weight", b.leaf_weight, "blockIO.leafWeight")
    for dev in b.weight_devices:
        for value, name in ((dev.weight, prefix + "weight_device"), (dev.leaf_weight, "blkio.leaf_weight_device")):
            if value:
                files.write(directory, name, f"{dev.device} {value}", dev.field)
    for (_, devs), (_, name, _) in zip(b.throttles, THROTTLES):
        for dev in devs:
            files.write(directory, name, f"{dev.device} {dev.rate or 0}", dev.field)


def hugetlb(mgr, res):
    for page in res.hugepages:
        directory = mgr.dir_of("hugetlb")
        if directory is not None:
            files.write(directory, f"hugetlb.{page.size}.limit_in_bytes", page.limit, page.field)
            continue
        unified = mgr.unified_dir()
        if unified is None:
            raise PyboxError(f"linux.resources.{page.field}: the hugetlb cgroup controller is not mounted")
        # Hybrid hosts may keep hugetlb on cgroup2; the parent must hand it down (never the
        # container's own cgroup: one with controllers enabled could not hold processes).
        files.enable_controllers(os.path.dirname(unified), ["hugetlb"])
        files.write(unified, f"hugetlb.{page.size}.max", page.limit, page.field)


def network(mgr, res):
    net = res.network
    if net.class_id is not None:
        files.write(_dir(mgr, "net_cls", "network.classID"), "net_cls.classid", net.class_id,
                    "network.classID")
    for name, priority, field in net.priorities:
        files.write(_dir(mgr, "net_prio", field), "net_prio.ifpriomap", f"{name} {priority}", field)


def rdma(mgr, res):
    for _, line, field in res.rdma:
        files.write(_dir(mgr, "rdma", field), "rdma.max", line, field)
