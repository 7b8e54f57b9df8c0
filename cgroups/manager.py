"""What every cgroup backend shares: killing, listing and removing, built on a few primitives."""

import os
from _signal import SIGKILL  # `signal` imports enum: several ms on every command

from pybox.cgroups import files
from pybox.errors import PyboxError


class Manager:
    """A container's cgroup. Backends implement create/apply/add/freeze/thaw/frozen/stats/
    oom_count/mount_plan and the dirs they own; to_record()/load_manager() round-trip it."""

    driver = None

    def __init__(self, path, created=()):
        self.path = path  # the cgroup path from the hierarchy root, as /proc/<pid>/cgroup shows it
        self.created = list(created)  # parents this manager made, so destroy can tidy them

    def dirs(self):
        raise NotImplementedError

    def controller_dirs(self):
        """[(the controllers a directory alone serves, the directory)]: with one tree (v2), none."""
        return [([], directory) for directory in self.dirs()]

    def procs_dir(self):
        return self.dirs()[0]

    def add_uncharged(self, pid):
        """Move pid early into the parts of the cgroup that charge nothing for past allocations.
        With one hierarchy (v2) there is no such part: everything waits for add()."""

    def pids(self):
        return files.procs(self.procs_dir())

    def sub_cgroups(self, paths):
        """Existing sub-cgroups to put a process in: paths maps a controller ("" for all the
        rest) to (a path below this cgroup, how the caller named it, for errors)."""
        known = {c for controllers, _ in self.controller_dirs() for c in controllers}
        for controller, (_, name) in paths.items():
            if controller and controller not in known:
                raise PyboxError(f"{name}: the container has no {controller} cgroup")
        dirs = []
        for controllers, directory in self.controller_dirs():
            chosen = paths.get("")
            for controller in controllers:
                chosen = paths.get(controller, chosen)
            dirs.append(directory if chosen is None else _below(directory, *chosen))
        return SubCgroups(dirs)

    def update(self, resources):
        self.apply(resources)

    def signal_all(self, sig):
        """Signal every process, frozen meanwhile so none can fork a child we would miss.
        A paused container stays paused (a SIGKILL then lands when it is thawed)."""
        if not self.pids():
            return
        freeze = self.can_freeze() and not self.frozen()
        if freeze:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if freeze:
                self.thaw()

    def can_freeze(self):
        return True

    def destroy(self):
        """Remove the cgroup (and any below it); killing is the caller's business."""
        own = self.dirs()
        for directory in own:
            files.remove_tree(directory)
        files.remove_empty([d for d in self.created if d not in own])

    def kill_and_destroy(self, timeout=5.0):
        self.signal_all(SIGKILL)
        files.wait_for(lambda: not self.pids(), timeout, f"the processes of cgroup {self.path} to exit")
        self.destroy()

    def to_record(self):
        return {"driver": self.driver, "path": self.path, "created": self.created}

    def exists(self):
        return os.path.isdir(self.procs_dir())


def _below(directory, sub, name):
    target = os.path.normpath(os.path.join(directory, sub.lstrip("/")))
    if target != directory and not target.startswith(directory + "/"):
        raise PyboxError(f"{name}: not a sub-cgroup of the container's cgroup")
    if not os.path.isdir(target):
        raise PyboxError(f"{name}: no such cgroup {target}")
    return target


class SubCgroups:
    """Sub-cgroups a process joins (exec --cgroup): only add(), which is all a launch asks."""

    def __init__(self, dirs):
        self.dirs = dirs

    def add(self, pid):
        for directory in self.dirs:
            files.add_process(directory, pid)

