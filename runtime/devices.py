"""Device cgroup rules: the config's own, then what every container may use (runc's list)."""

# (type, major, minor, access): /dev/null, zero, full, tty, random, urandom, pts/*, ptmx,
# and mknod of any char/block device (the node alone grants nothing without an allow rule).
ALWAYS_ALLOWED = [
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
    ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"),
]


def with_default_rules(config_rules, linux_devices):
    """The config's rules (deny-all when it has none), then runc's always-allowed devices and
    linux.devices, as linux.resources.devices entries (cgroups.resources parses those)."""
    rules = list(config_rules or [{"allow": False, "access": "rwm"}])
    for kind, major, minor, access in ALWAYS_ALLOWED:
        rules.append(_rule(kind, major, minor, access))
    for dev in linux_devices or []:
        if dev.get("type") in ("c", "b", "u"):
            rules.append(_rule("c" if dev["type"] == "u" else dev["type"], dev.get("major"), dev.get("minor"), "rwm"))
    return rules


def _rule(kind, major, minor, access):
    rule = {"allow": True, "type": kind, "access": access}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


def resources_with_default_devices(linux):
    """linux.resources with the device rules runc applies: the config's, then the defaults."""
    resources = dict(linux.get("resources") or {})
    resources["devices"] = with_default_rules(resources.get("devices"), linux.get("devices"))
    return resources
