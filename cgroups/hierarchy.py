"""Where the cgroup hierarchies are mounted and where the calling process sits in them.

Read once from /proc/self/mountinfo and /proc/self/cgroup, so that pybox works inside a container
or a delegated subtree as well as on the host: a relative cgroupsPath is joined to the caller's
own cgroup, per hierarchy on v1.
"""

import os

from pybox.errors import PyboxError

ROOT = "/sys/fs/cgroup"
UNIFIED = "unified"  # hybrid mode: where the v2 hierarchy is mounted below ROOT


class Hierarchy:
    """One mounted hierarchy. key is the controller list as /proc/self/cgroup names it
    ("cpu,cpuacct", "name=systemd"), or "" for cgroup2."""

    __slots__ = ("key", "mountpoint", "root", "fstype")

    def __init__(self, key, mountpoint, root, fstype):
        self.key = key
        self.mountpoint = mountpoint
        self.root = root
        self.fstype = fstype

    def host_dir(self, cgroup_path):
        """The directory of cgroup_path (as /proc/self/cgroup spells it) below this mount."""
        rel = os.path.relpath(cgroup_path, self.root) if self.root != "/" else cgroup_path.lstrip("/")
        if rel == "." or rel == "":
            return self.mountpoint
        if rel.startswith(".."):
            raise PyboxError(f"cgroup {cgroup_path} lies outside the mount at {self.mountpoint}")
        return os.path.join(self.mountpoint, rel)


def _mounts(mountinfo="/proc/self/mountinfo"):
    """Yield (root, mountpoint, fstype, superoptions) of every cgroup mount."""
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype = fields[sep + 1]
            if fstype in ("cgroup", "cgroup2"):
                yield _unescape(fields[3]), _unescape(fields[4]), fstype, fields[sep + 3]


def _unescape(path):
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def own_cgroups(proc_cgroup="/proc/self/cgroup"):
    """{key: path} of the calling process; key "" is the cgroup2 one."""
    own = {}
    with open(proc_cgroup) as f:
        for line in f:
            _, key, path = line.rstrip("\n").split(":", 2)
            own[key] = path
    return own


def _v1_key(superoptions, own):
    """Match a v1 mount to its /proc/self/cgroup key by the set of controllers it carries."""
    words = set(superoptions.split(","))
    for key in own:
        if key and set(key.split(",")) <= words:
            return key
    return None


def discover(mountinfo="/proc/self/mountinfo", proc_cgroup="/proc/self/cgroup"):
    """Return (mode, hierarchies): mode is "unified", "hybrid" or "legacy"."""
    own = own_cgroups(proc_cgroup)
    found = {}
    for root, mountpoint, fstype, superoptions in _mounts(mountinfo):
        key = "" if fstype == "cgroup2" else _v1_key(superoptions, own)
        if key is None or key in found:
            continue
        if key == "" and mountpoint not in (ROOT, os.path.join(ROOT, UNIFIED)):
            continue
        found[key] = Hierarchy(key, mountpoint, root, fstype)
    unified = found.get("")
    if unified is not None and unified.mountpoint == ROOT:
        return "unified", {"": unified}
    if len(found) == (1 if unified else 0):
        raise PyboxError(f"no cgroup hierarchy is mounted below {ROOT}")
    return ("hybrid" if unified else "legacy"), found


_snapshot = None


def snapshot():
    """(mode, hierarchies, own cgroups) of this process, read once: a pybox command never moves
    itself, and create asks twice (pybox.cgroups.warmup, then open_manager)."""
    global _snapshot
    if _snapshot is None:
        mode, hierarchies = discover()
        _snapshot = mode, hierarchies, own_cgroups()
    return _snapshot


def validate(cgroups_path):
    """Reject a cgroupsPath that could climb out of where it points."""
    if not isinstance(cgroups_path, str):
        raise PyboxError("linux.cgroupsPath: must be a string")
    parts = cgroups_path.split("/")
    if ".." in parts or "\0" in cgroups_path:
        raise PyboxError(f"linux.cgroupsPath: {cgroups_path!r} must not contain '..'")
    return "/".join(p for p in parts if p not in ("", ".")) if not cgroups_path.startswith("/") \
        else "/" + "/".join(p for p in parts if p not in ("", "."))


def resolve(cgroups_path, container_id, own_path):
    """The cgroup path (from the hierarchy root) a container gets, given the caller's own path."""
    if cgroups_path is None or cgroups_path == "":
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise PyboxError(f"container id {container_id!r} cannot name a cgroup")
        return os.path.join(own_path, "pybox", container_id)
    path = validate(cgroups_path)
    if not path.strip("/"):
        raise PyboxError(f"linux.cgroupsPath: {cgroups_path!r} names no cgroup of its own")
    return path if path.startswith("/") else os.path.join(own_path, path)
