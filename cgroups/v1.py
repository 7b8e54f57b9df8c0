"""The cgroup v1 backend (legacy and hybrid hosts): one directory per mounted hierarchy.

In hybrid mode the v2 hierarchy (mounted at /sys/fs/cgroup/unified) is one more hierarchy with
key "": the container joins it too, and hugetlb limits go there when that is where hugetlb lives.
"""

import os

from pybox.cgroups import files
from pybox.cgroups.hierarchy import ROOT
from pybox.cgroups.manager import Manager
from pybox.errors import PyboxError

FREEZE_TIMEOUT = 10.0


class V1Manager(Manager):
    driver = "v1"

    def __init__(self, path, hierarchies, created=()):
        """hierarchies: [{"key", "mountpoint", "fstype", "dir"}], one per mounted hierarchy."""
        super().__init__(path, created)
        self.hierarchies = hierarchies

    def dirs(self):
        return [h["dir"] for h in self.hierarchies]

    def controller_dirs(self):
        """[(the controllers of a hierarchy, the container's directory there)]"""
        return [(h["key"].split(",") if h["key"] else [], h["dir"]) for h in self.hierarchies]

    def dir_of(self, controller):
        """The directory for a controller, or None when its hierarchy is not mounted."""
        for h in self.hierarchies:
            if controller in h["key"].split(","):
                return h["dir"]
        return None

    def unified_dir(self):
        return next((h["dir"] for h in self.hierarchies if h["key"] == ""), None)

    def procs_dir(self):
        return self.dir_of("pids") or self.dir_of("freezer") or self.dirs()[0]

    def create(self):
        for h in self.hierarchies:
            files.make_dirs(h["dir"], self.created)
            if "cpuset" in h["key"].split(","):
                _fill_cpuset(h["dir"])

    def apply(self, resources):
        from pybox.cgroups import v1_resources
        v1_resources.apply(self, resources or {})

    def add(self, pid):
        for directory in self.dirs():
            files.add_process(directory, pid)

    def add_uncharged(self, pid):
        """Every hierarchy but memory and pids: there the process is charged for nothing it has
        already allocated or forked. The runtime moves its init early into these (the first
        migration waits out an RCU grace period) and into the rest once set-up is over."""
        charged = {self.dir_of("memory"), self.dir_of("pids")}
        for directory in self.dirs():
            if directory not in charged:
                files.add_process(directory, pid)

    def _freezer(self):
        directory = self.dir_of("freezer")
        if directory is None:
            raise PyboxError("pause needs the freezer cgroup controller, which is not mounted")
        return directory

    def can_freeze(self):
        return self.dir_of("freezer") is not None

    def freeze(self):
        directory = self._freezer()
        # Freezing can stall on a task in an uninterruptible sleep; writing FROZEN again retries it.
        def settled():
            files.write(directory, "freezer.state", "FROZEN", "freezer")
            return files.read(directory, "freezer.state") == "FROZEN"
        try:
            files.wait_for(settled, FREEZE_TIMEOUT, f"cgroup {directory} to freeze")
        except PyboxError:
            self.thaw()
            raise

    def thaw(self):
        directory = self._freezer()
        files.write(directory, "freezer.state", "THAWED", "freezer")
        files.wait_for(lambda: files.read(directory, "freezer.state") == "THAWED", FREEZE_TIMEOUT,
                       f"cgroup {directory} to thaw")

    def frozen(self):
        directory = self.dir_of("freezer")
        return directory is not None and files.read(directory, "freezer.state") == "FROZEN"

    def stats(self):
        from pybox.cgroups import v1_stats
        return v1_stats.collect(self)

    def oom_count(self):
        directory = self.dir_of("memory")
        return files.read_keyed(directory, "memory.oom_control").get("oom_kill", 0) if directory else 0

    def mount_plan(self):
        plan, links = [], {}
        for h in self.hierarchies:
            subdir = os.path.relpath(h["mountpoint"], ROOT)
            plan.append({"subdir": subdir, "fstype": h["fstype"], "data": h["key"], "host_path": h["dir"]})
            for controller in h["key"].split(","):
                if h["key"] and controller != subdir and "=" not in controller:
                    links[controller] = subdir  # cpu -> cpu,cpuacct, as the host has it
        if links:
            plan.append({"symlinks": links})
        return plan

    def to_record(self):
        return dict(super().to_record(), hierarchies=self.hierarchies)


def _fill_cpuset(directory):
    """A v1 cpuset cgroup starts with no CPUs and no memory nodes, and a process cannot join it
    (ENOSPC). As runc (cpusetEnsureParent): where the directory or a parent above it has an empty
    cpuset.cpus or cpuset.mems, fill it from its parent, outermost first."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        empty, d = [], directory
        value = files.read(d, name)
        while value == "":  # None: no such file, above the hierarchy's root
            empty.append(d)
            d = os.path.dirname(d)
            value = files.read(d, name)
        for d in reversed(empty if value else []):
            try:
                files.put(d, name, value)
            except OSError as err:
                raise PyboxError(f"cgroup {d}: copying {name} {value!r} from its parent: {err.strerror}",
                                 err.errno) from None


def open_v1(path_for, hierarchies):
    """path_for(key) -> the cgroup path in that hierarchy."""
    described = []
    for key, h in sorted(hierarchies.items()):
        described.append({"key": key, "mountpoint": h.mountpoint, "fstype": h.fstype,
                          "dir": h.host_dir(path_for(key))})
    return V1Manager(path_for("memory" if "memory" in hierarchies else next(iter(hierarchies))),
                     described)
