"""Writing linux.resources into cgroup v1 files, one function per controller (runc's fs package)."""

import os

from pybox.cgroups import files, spec
from pybox.cgroups.spec import THROTTLES, devnum, hugepage_limit, number, rdma_line, section, string, unsigned
from pybox.errors import PyboxError


def apply(mgr, resources):
    if not isinstance(resources, dict):
        raise PyboxError("linux.resources: must be an object")
    if resources.get("unified"):
        raise PyboxError("linux.resources.unified: needs cgroup v2, and this host runs cgroup v1")
    for setter in (devices, memory, cpu, cpuset, pids, block_io, hugetlb, network, rdma):
        setter(mgr, resources)


def _dir(mgr, controller, field):
    directory = mgr.dir_of(controller)
    if directory is None:
        raise PyboxError(f"linux.resources.{field}: the {controller} cgroup controller is not mounted")
    return directory


def devices(mgr, resources):
    rules = spec.device_rules(resources)
    if not rules:
        return
    directory = _dir(mgr, "devices", "devices")
    for i, rule in enumerate(rules):
        files.write(directory, "devices.allow" if rule.allow else "devices.deny", rule.v1_line(),
                    f"devices[{i}]")


def memory(mgr, resources):
    mem = section(resources, "memory")
    limit = number(mem, "limit", "memory.limit")
    swap = number(mem, "swap", "memory.swap")
    reservation = number(mem, "reservation", "memory.reservation")
    swappiness = number(mem, "swappiness", "memory.swappiness")
    kernel_tcp = number(mem, "kernelTCP", "memory.kernelTCP")
    number(mem, "kernel", "memory.kernel")  # kernel memory limits are gone from the kernel; runc ignores them
    oom_disabled = spec.flag(mem, "disableOOMKiller", "memory.disableOOMKiller")
    if not (limit or swap or reservation or kernel_tcp or oom_disabled or swappiness is not None):
        return
    directory = _dir(mgr, "memory", "memory")
    if limit and mem.get("checkBeforeUpdate") and limit != -1:
        _check_usage_below(directory, limit)
    _set_limit_and_swap(directory, limit, swap)
    if reservation:
        files.write(directory, "memory.soft_limit_in_bytes", reservation, "memory.reservation")
    if kernel_tcp:
        files.write(directory, "memory.kmem.tcp.limit_in_bytes", kernel_tcp, "memory.kernelTCP")
    if oom_disabled:
        files.write(directory, "memory.oom_control", 1, "memory.disableOOMKiller")
    if swappiness is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise PyboxError(f"linux.resources.memory.swappiness: must be 0 to 100, not {swappiness}")
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


def cpu(mgr, resources):
    c = spec.CpuFields(resources)
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


def cpuset(mgr, resources):
    spec_cpu = section(resources, "cpu")
    cpus = string(spec_cpu, "cpus", "cpu.cpus")
    mems = string(spec_cpu, "mems", "cpu.mems")
    if cpus or mems:
        directory = _dir(mgr, "cpuset", "cpu.cpus" if cpus else "cpu.mems")
        if cpus:
            files.write(directory, "cpuset.cpus", cpus, "cpu.cpus")
        if mems:
            files.write(directory, "cpuset.mems", mems, "cpu.mems")


def pids(mgr, resources):
    limit = number(section(resources, "pids"), "limit", "pids.limit")
    if limit:  # 0 means unset, as in runc
        files.write(_dir(mgr, "pids", "pids"), "pids.max", limit if limit > 0 else "max", "pids.limit")


def block_io(mgr, resources):
    blkio = section(resources, "blockIO")
    if not blkio:
        return
    directory = _dir(mgr, "blkio", "blockIO")
    # BFQ replaced CFQ: its files take the same 1-1000 range when blkio.weight is gone.
    bfq = not files.exists(directory, "blkio.weight") and files.exists(directory, "blkio.bfq.weight")
    prefix = "blkio.bfq." if bfq else "blkio."
    weight = unsigned(blkio, "weight", "blockIO.weight")
    if weight:
        files.write(directory, prefix + "weight", weight, "blockIO.weight")
    leaf = unsigned(blkio, "leafWeight", "blockIO.leafWeight")
    if leaf:
        files.write(directory, "blkio.leaf_weight", leaf, "blockIO.leafWeight")
    for i, dev in enumerate(spec.listing(blkio, "weightDevice", "blockIO.weightDevice")):
        field = f"blockIO.weightDevice[{i}]"
        for key, name in (("weight", prefix + "weight_device"), ("leafWeight", "blkio.leaf_weight_device")):
            value = unsigned(dev, key, f"{field}.{key}")
            if value:
                files.write(directory, name, f"{devnum(dev, field)} {value}", field)
    for key, name in THROTTLES:
        for i, dev in enumerate(spec.listing(blkio, key, f"blockIO.{key}")):
            field = f"blockIO.{key}[{i}]"
            rate = unsigned(dev, "rate", f"{field}.rate")
            files.write(directory, name, f"{devnum(dev, field)} {rate or 0}", field)


def hugetlb(mgr, resources):
    for i, entry in enumerate(spec.listing(resources, "hugepageLimits", "hugepageLimits")):
        field = f"hugepageLimits[{i}]"
        size, limit = hugepage_limit(entry, field)
        directory = mgr.dir_of("hugetlb")
        if directory is not None:
            files.write(directory, f"hugetlb.{size}.limit_in_bytes", limit, field)
            continue
        unified = mgr.unified_dir()
        if unified is None:
            raise PyboxError(f"linux.resources.{field}: the hugetlb cgroup controller is not mounted")
        # Hybrid hosts may keep hugetlb on cgroup2; the parent must hand it down (never the
        # container's own cgroup: one with controllers enabled could not hold processes).
        files.enable_controllers(os.path.dirname(unified), ["hugetlb"])
        files.write(unified, f"hugetlb.{size}.max", limit, field)


def network(mgr, resources):
    net = section(resources, "network")
    class_id = unsigned(net, "classID", "network.classID")
    if class_id is not None:
        files.write(_dir(mgr, "net_cls", "network.classID"), "net_cls.classid", class_id,
                    "network.classID")
    for i, prio in enumerate(spec.listing(net, "priorities", "network.priorities")):
        field = f"network.priorities[{i}]"
        name = string(prio, "name", f"{field}.name") if isinstance(prio, dict) else None
        if name is None or " " in name:
            raise PyboxError(f"linux.resources.{field}: needs an interface name and priority")
        files.write(_dir(mgr, "net_prio", field), "net_prio.ifpriomap",
                    f"{name} {unsigned(prio, 'priority', field + '.priority') or 0}", field)


def rdma(mgr, resources):
    for device, limits in section(resources, "rdma").items():
        directory = _dir(mgr, "rdma", f"rdma.{device}")
        files.write(directory, "rdma.max", rdma_line(device, limits), f"rdma.{device}")
