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
        files.enable_controllers(parent)
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


def open_v2(path, hierarchy):
    return V2Manager(path, hierarchy.host_dir(path))
