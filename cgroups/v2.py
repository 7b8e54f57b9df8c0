"""The cgroup v2 backend: one directory in the unified hierarchy."""

import os
from _signal import SIGKILL  # `signal` imports enum: several ms on every command

from pybox.cgroups import files
from pybox.cgroups.manager import Manager
from pybox.errors import PyboxError

FREEZE_TIMEOUT = 10.0


class V2Manager(Manager):
    driver = "v2"

    def __init__(self, path, directory, created=()):
        super().__init__(path, created)
        self.dir = directory

    def dirs(self):
        return [self.dir]

    def dir_of(self, controller):
        return self.dir

    def unified_dir(self):
        return self.dir

    def create(self):
        parent = os.path.dirname(self.dir)
        files.make_dirs(parent, self.created)
        enable_controllers(parent)
        files.make_dirs(self.dir, self.created)

    def apply(self, resources):
        from pybox.cgroups import v2_resources
        v2_resources.apply(self, resources or {})

    def add(self, pid):
        files.add_process(self.dir, pid)

    def freeze(self):
        self._set_frozen(True)

    def thaw(self):
        self._set_frozen(False)

    def _set_frozen(self, frozen):
        if not files.exists(self.dir, "cgroup.freeze"):
            raise PyboxError("pause needs cgroup.freeze, which this kernel lacks (Linux 5.2+)")
        files.write(self.dir, "cgroup.freeze", int(frozen), "freezer")
        files.wait_for(lambda: self.frozen() == frozen, FREEZE_TIMEOUT,
                       f"cgroup {self.dir} to {'freeze' if frozen else 'thaw'}")

    def frozen(self):
        return files.read_keyed(self.dir, "cgroup.events").get("frozen") == 1

    def signal_all(self, sig):
        if sig == SIGKILL and files.exists(self.dir, "cgroup.kill"):
            files.write(self.dir, "cgroup.kill", 1, "kill")  # atomic, even against fork bombs
            return
        super().signal_all(sig)

    def can_freeze(self):
        return files.exists(self.dir, "cgroup.freeze")

    def stats(self):
        from pybox.cgroups import v2_stats
        return v2_stats.collect(self.dir)

    def oom_count(self):
        return files.read_keyed(self.dir, "memory.events").get("oom_kill", 0)

    def mount_plan(self):
        return [{"subdir": "", "fstype": "cgroup2", "data": "", "host_path": self.dir}]

    def to_record(self):
        return dict(super().to_record(), dir=self.dir)


def enable_controllers(directory, wanted=None):
    """Make the controllers available to directory's children: +ctrl in the subtree_control of
    every ancestor from the hierarchy root down to directory. A failure (a cgroup that holds
    processes cannot delegate, say) is left for apply() to report when a limit needs it."""
    chain = [directory]
    while files.exists(chain[-1], "cgroup.type"):  # the root cgroup has no cgroup.type
        chain.append(os.path.dirname(chain[-1]))
    for level in reversed(chain):
        available = (files.read(level, "cgroup.controllers") or "").split()
        enabled = set((files.read(level, "cgroup.subtree_control") or "").split())
        for controller in available:
            if (wanted is None or controller in wanted) and controller not in enabled:
                try:
                    files.put(level, "cgroup.subtree_control", "+" + controller)
                except OSError:
                    pass


def open_v2(path, hierarchy):
    return V2Manager(path, hierarchy.host_dir(path))
