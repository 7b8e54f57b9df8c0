"""Typed access to linux.resources, so a bad value is an error naming its field.

create has checked config.json's types already (runtime/schema.py); these checks also hold for
`update`'s resources, which come from its own file and flags.
"""

from pybox.errors import PyboxError


def section(resources, name):
    value = resources.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PyboxError(f"linux.resources.{name}: must be an object")
    return value


def listing(parent, key, field):
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PyboxError(f"linux.resources.{field}: must be a list")
    return value


def number(parent, key, field):
    """An integer field, or None when absent."""
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PyboxError(f"linux.resources.{field}: must be an integer, not {value!r}")
    if not -(1 << 63) <= value < 1 << 64:  # the spec's int64 and uint64 fields
        raise PyboxError(f"linux.resources.{field}: {value} is out of range")
    return value


def unsigned(parent, key, field):
    value = number(parent, key, field)
    if value is not None and value < 0:
        raise PyboxError(f"linux.resources.{field}: must not be negative, not {value}")
    return value


def string(parent, key, field):
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\n" in value or "\0" in value:
        raise PyboxError(f"linux.resources.{field}: must be a one-line string without NUL bytes")
    return value


def flag(parent, key, field):
    value = parent.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PyboxError(f"linux.resources.{field}: must be true or false")
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


def device_rules(resources):
    rules = []
    for i, entry in enumerate(listing(resources, "devices", "devices")):
        field = f"devices[{i}]"
        if not isinstance(entry, dict):
            raise PyboxError(f"linux.resources.{field}: must be an object")
        allow = entry.get("allow")
        if not isinstance(allow, bool):
            raise PyboxError(f"linux.resources.{field}.allow: must be true or false")
        type_ = entry.get("type") or "a"
        if type_ not in ("a", "b", "c"):
            raise PyboxError(f"linux.resources.{field}.type: must be a, b or c, not {type_!r}")
        access = entry.get("access") or "rwm"
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            raise PyboxError(f"linux.resources.{field}.access: must be letters of rwm, not {access!r}")
        major = _device_number(entry, "major", field)
        minor = _device_number(entry, "minor", field)
        rules.append(DeviceRule(allow, type_, major, minor, "".join(c for c in "rwm" if c in access)))
    return rules


def _device_number(entry, key, field):
    value = number(entry, key, f"{field}.{key}")
    return None if value is None or value == -1 else value


class CpuFields:
    """linux.resources.cpu read and checked once, for either backend to write."""

    def __init__(self, resources):
        cpu = section(resources, "cpu")
        self.shares = unsigned(cpu, "shares", "cpu.shares")
        self.quota = number(cpu, "quota", "cpu.quota")
        self.period = unsigned(cpu, "period", "cpu.period")
        self.burst = unsigned(cpu, "burst", "cpu.burst")
        self.rt_runtime = number(cpu, "realtimeRuntime", "cpu.realtimeRuntime")
        self.rt_period = unsigned(cpu, "realtimePeriod", "cpu.realtimePeriod")
        self.idle = number(cpu, "idle", "cpu.idle")

    def empty(self):
        values = (self.shares, self.quota, self.period, self.burst, self.rt_runtime, self.rt_period)
        return not any(values) and self.idle is None


THROTTLES = (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
             ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
             ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
             ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"))


def devnum(dev, field):
    if not isinstance(dev, dict):
        raise PyboxError(f"linux.resources.{field}: must be an object")
    major = unsigned(dev, "major", f"{field}.major")
    minor = unsigned(dev, "minor", f"{field}.minor")
    if major is None or minor is None:
        raise PyboxError(f"linux.resources.{field}: needs major and minor")
    return f"{major}:{minor}"


def hugepage_limit(entry, field):
    if not isinstance(entry, dict):
        raise PyboxError(f"linux.resources.{field}: must be an object")
    size = string(entry, "pageSize", f"{field}.pageSize")
    limit = unsigned(entry, "limit", f"{field}.limit")
    if size is None or "/" in size or limit is None:
        raise PyboxError(f"linux.resources.{field}: needs pageSize (such as 2MB) and limit")
    return size, limit


def rdma_line(device, limits):
    field = f"rdma.{device}"
    if not isinstance(limits, dict) or " " in device:
        raise PyboxError(f"linux.resources.{field}: must be an object with hcaHandles/hcaObjects")
    words = [device]
    for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
        value = unsigned(limits, key, f"{field}.{key}")
        if value is not None:
            words.append(f"{name}={value}")
    return " ".join(words)
