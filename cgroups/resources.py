"""linux.resources as objects, read and checked in one pass before anything is forked.

Resources.parse(dict) checks every field (type, range, form) and turns the section into slotted
objects that the v1 and v2 writers (v1_resources.py, v2_resources.py) read without looking at
JSON again; errors name the field ("linux.resources.memory.swappiness: ..."). check_for(version)
adds what one cgroup version cannot do (swappiness or realtime CPU on v2, unified on v1), so a
create fails before its init exists. `update`'s resources (its file and flags) go through the same.

What only the host can tell (a controller not mounted, a limit below the current usage) is still
found when the files are written. Absent fields are None (numbers, strings), False (flags) or
empty (lists, maps); the spec's "0 means unset" rules are the writers' to apply, as runc does.
"""

from pybox.errors import PyboxError

THROTTLES = (("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
             ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
             ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
             ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"))


def fail(field, message):
    raise PyboxError(f"linux.resources.{field}: {message}")


class _Reader:
    """Typed reads of one JSON object, errors naming field paths below `where`."""

    __slots__ = ("obj", "where")

    def __init__(self, obj, where):
        if obj is None:
            obj = {}
        if not isinstance(obj, dict):
            fail(where, "must be an object")
        self.obj, self.where = obj, where

    def _field(self, key):
        return f"{self.where}.{key}" if self.where else key

    def section(self, key):
        return _Reader(self.obj.get(key), self._field(key))

    def items(self, key):
        """A list of objects, each as a _Reader."""
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            fail(self._field(key), "must be a list")
        return [_Reader(v, f"{self._field(key)}[{i}]") for i, v in enumerate(value)]

    def number(self, key):
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            fail(self._field(key), f"must be an integer, not {value!r}")
        if not -(1 << 63) <= value < 1 << 64:  # the spec's int64 and uint64 fields
            fail(self._field(key), f"{value} is out of range")
        return value

    def unsigned(self, key):
        value = self.number(key)
        if value is not None and value < 0:
            fail(self._field(key), f"must not be negative, not {value}")
        return value

    def string(self, key):
        value = self.obj.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or "\n" in value or "\0" in value:
            fail(self._field(key), "must be a one-line string without NUL bytes")
        return value

    def flag(self, key):
        value = self.obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            fail(self._field(key), "must be true or false")
        return value


class DeviceRule:
    """One linux.resources.devices entry; None for major/minor means any."""

    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow, type_, major, minor, access):
        self.allow, self.type, self.major, self.minor, self.access = allow, type_, major, minor, access

    def v1_line(self):
        if self.type == "a":
            return "a"
        major = "*" if self.major is None else self.major
        minor = "*" if self.minor is None else self.minor
        return f"{self.type} {major}:{minor} {self.access}"


def _device_rule(r):
    allow = r.obj.get("allow")
    if not isinstance(allow, bool):
        fail(f"{r.where}.allow", "must be true or false")
    type_ = r.obj.get("type") or "a"
    if type_ not in ("a", "b", "c"):
        fail(f"{r.where}.type", f"must be a, b or c, not {type_!r}")
    access = r.obj.get("access") or "rwm"
    if not isinstance(access, str) or not access or set(access) - set("rwm"):
        fail(f"{r.where}.access", f"must be letters of rwm, not {access!r}")
    major, minor = (r.number(key) for key in ("major", "minor"))
    return DeviceRule(allow, type_, None if major in (None, -1) else major,
                      None if minor in (None, -1) else minor, "".join(c for c in "rwm" if c in access))


class Memory:
    __slots__ = ("limit", "swap", "reservation", "swappiness", "kernel_tcp", "disable_oom_killer",
                 "check_before_update")

    def __init__(self, r):
        self.limit, self.swap, self.reservation = r.number("limit"), r.number("swap"), r.number("reservation")
        self.swappiness, self.kernel_tcp = r.number("swappiness"), r.number("kernelTCP")
        r.number("kernel")  # kernel memory limits are gone from the kernel; runc ignores them
        self.disable_oom_killer = r.flag("disableOOMKiller")
        self.check_before_update = r.flag("checkBeforeUpdate")
        if self.swappiness not in (None, -1) and not 0 <= self.swappiness <= 100:
            fail("memory.swappiness", f"must be 0 to 100, not {self.swappiness}")


class Cpu:
    __slots__ = ("shares", "quota", "period", "burst", "rt_runtime", "rt_period", "idle", "cpus", "mems")

    def __init__(self, r):
        self.shares, self.quota, self.period = r.unsigned("shares"), r.number("quota"), r.unsigned("period")
        self.burst = r.unsigned("burst")
        self.rt_runtime, self.rt_period = r.number("realtimeRuntime"), r.unsigned("realtimePeriod")
        self.idle = r.number("idle")
        self.cpus, self.mems = r.string("cpus"), r.string("mems")

    def empty(self):
        values = (self.shares, self.quota, self.period, self.burst, self.rt_runtime, self.rt_period)
        return not any(values) and self.idle is None


class DeviceValue:
    """A blockIO per-device entry: "major:minor" and its value (weight, leafWeight or rate)."""

    __slots__ = ("device", "weight", "leaf_weight", "rate", "field")

    def __init__(self, r):
        major, minor = r.unsigned("major"), r.unsigned("minor")
        if major is None or minor is None:
            fail(r.where, "needs major and minor")
        self.device, self.field = f"{major}:{minor}", r.where
        self.weight, self.leaf_weight, self.rate = r.unsigned("weight"), r.unsigned("leafWeight"), r.unsigned("rate")


class BlockIO:
    __slots__ = ("given", "weight", "leaf_weight", "weight_devices", "throttles")

    def __init__(self, r):
        self.given = bool(r.obj)
        self.weight, self.leaf_weight = r.unsigned("weight"), r.unsigned("leafWeight")
        self.weight_devices = [DeviceValue(d) for d in r.items("weightDevice")]
        self.throttles = [(key, [DeviceValue(d) for d in r.items(key)]) for key, _, _ in THROTTLES]


class Hugepage:
    __slots__ = ("size", "limit", "field")

    def __init__(self, r):
        self.size, self.limit, self.field = r.string("pageSize"), r.unsigned("limit"), r.where
        if self.size is None or "/" in self.size or self.limit is None:
            fail(r.where, "needs pageSize (such as 2MB) and limit")


class Network:
    __slots__ = ("given", "class_id", "priorities")

    def __init__(self, r):
        self.given = bool(r.obj)
        self.class_id = r.unsigned("classID")
        self.priorities = []
        for p in r.items("priorities"):
            name = p.string("name")
            if name is None or " " in name:
                fail(p.where, "needs an interface name and priority")
            self.priorities.append((name, p.unsigned("priority") or 0, p.where))


class Resources:
    __slots__ = ("memory", "cpu", "pids_limit", "block_io", "hugepages", "network", "rdma", "devices",
                 "devices_given", "unified")

    @classmethod
    def parse(cls, resources):
        """The whole linux.resources object (a dict, or None for none), checked."""
        self = cls()
        r = _Reader(resources, "")
        self.memory = Memory(r.section("memory"))
        self.cpu = Cpu(r.section("cpu"))
        self.pids_limit = r.section("pids").number("limit")
        self.block_io = BlockIO(r.section("blockIO"))
        self.hugepages = [Hugepage(h) for h in r.items("hugepageLimits")]
        self.network = Network(r.section("network"))
        self.rdma = [_rdma_line(device, limits) for device, limits in r.section("rdma").obj.items()]
        self.devices_given = r.obj.get("devices") is not None
        self.devices = [_device_rule(d) for d in r.items("devices")]
        self.unified = []
        for key, value in r.section("unified").obj.items():
            field = f"unified.{key}"
            if not isinstance(value, str):
                fail(field, "the value must be a string")
            if "/" in key or key.startswith(".") or "." not in key or \
                    (key.startswith("cgroup.") and key not in ("cgroup.max.depth", "cgroup.max.descendants")):
                fail(field, "not a cgroup v2 interface file")
            self.unified.append((key, value, field))
        return self

    def check_for(self, version):
        """What this cgroup version (1 or 2) cannot do, refused before anything is written."""
        if version == 1:
            if self.unified:
                fail("unified", "needs cgroup v2, and this host runs cgroup v1")
            return self
        if self.memory.swappiness not in (None, -1):
            fail("memory.swappiness", "cgroup v2 has no per-cgroup swappiness")
        if self.memory.disable_oom_killer:
            fail("memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer")
        for value, key in ((self.cpu.rt_runtime, "realtimeRuntime"), (self.cpu.rt_period, "realtimePeriod")):
            if value:
                fail(f"cpu.{key}", "cgroup v2 has no realtime CPU budget")
        if self.block_io.leaf_weight:
            fail("blockIO.leafWeight", "cgroup v2 has no leaf weight")
        if self.network.given:
            fail("network", "net_cls/net_prio exist only on cgroup v1")
        return self


def _rdma_line(device, limits):
    field = f"rdma.{device}"
    if not isinstance(limits, dict) or " " in device:
        fail(field, "must be an object with hcaHandles/hcaObjects")
    r = _Reader(limits, field)
    words = [device]
    for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
        value = r.unsigned(key)
        if value is not None:
            words.append(f"{name}={value}")
    return device, " ".join(words), field


def parse(resources):
    """Resources.parse, or the object itself when it has been parsed already."""
    return resources if isinstance(resources, Resources) else Resources.parse(resources)
