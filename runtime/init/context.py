"""What the init needs, worked out once in the parent before the fork."""

import os

from pybox import kernel as k
from pybox.runtime.spec import Namespaces
from pybox.userns import in_user_namespace

# Namespaces a process can only give to its children: the intermediate process (or, for pid, the
# parent) enters them and forks the init into them.
FOR_CHILDREN = k.CLONE_NEWPID | k.CLONE_NEWTIME


class InitContext:
    def __init__(self, config, rootfs, state_dir, console_fd=None, no_pivot=False,
                 no_new_keyring=False, preserve_fds=0):
        self.config = config  # a view.Config: its members read as attributes (view.View)
        self.process = config.process
        self.linux = config.linux
        self.rootfs = rootfs
        self.state_dir = state_dir
        self.console_fd = console_fd
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.sync = None
        # Opened by the runtime as host root: in a user namespace the init may not reach them by path.
        self.fifo_fd = None
        self.state_fd = None
        self.idmap_fds = {}  # id(mount) -> user namespace fd, for id-mapped bind mounts
        self.cgroup_plan = None
        self.init_pid = None  # for exec: the container's init
        self.seccomp = None
        # spec.Namespaces, worked out with the rest of the check (exec's saved config: here)
        namespaces = getattr(config, "namespaces", None) or Namespaces(self.linux.raw.get("namespaces") or [])
        self.new_flags = namespaces.new_flags
        self.joins = namespaces.joins
        self.userns = namespaces.has("user")
        self.cgroupns = bool(self.new_flags & k.CLONE_NEWCGROUP)
        # The container's own mount namespace, new or joined by path: as runc, the init sets up
        # the rootfs (mounts, pivot_root) in a joined one too.
        self.new_mountns = namespaces.has("mount")
        # Without a user or time namespace the parent can hand the init its pid namespace
        # itself (runtime/forkns.py) and fork it directly: one process fewer on every create.
        # A pid namespace made by the parent would belong to the host's user namespace, and a
        # time namespace can only be entered by a single-threaded process. Inside a user
        # namespace (an ordinary user's engine) the parent could not come back to its own pid
        # namespace, which belongs to the host's.
        self.forks_init_directly = not self.userns and not (self.new_flags & k.CLONE_NEWTIME) \
            and all(t != "time" for t, _ in self.joins) and not in_user_namespace()
        # When the init mounts the cgroup: with a cgroup namespace, once it has joined its
        # cgroup ("join"); else host binds, after "go", which brings the plan (the cgroup exists
        # by then) while the host's cgroup directories are still in reach.
        self.cgroup_mounts_at = "join" if self.cgroupns else "go"
        self.given_by_parent = 0  # CLONE_NEW* flags of the namespaces the init was born in

    def open_state_fds(self):
        self.fifo_fd = os.open(os.path.join(self.state_dir, "exec.fifo"), os.O_PATH | os.O_CLOEXEC)
        self.state_fd = os.open(self.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close_state_fds(self):
        for fd in (self.fifo_fd, self.state_fd):
            if fd is not None:
                os.close(fd)

    @property
    def hooks(self):
        return self.config.hooks

