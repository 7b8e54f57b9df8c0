"""The runtime's own executable, seen from a container that may ptrace (CVE-2019-5736).

Every process pybox forks into a container is the host's interpreter until it execs, and it is
not dumpable (runtime/launch.py), so the kernel refuses a container's process its
/proc/<pid>/exe (init/dmz.py covers what it execs). There is one exception: a process holding
CAP_SYS_PTRACE over the user namespace that the interpreter's memory belongs to, the host's.
A container without a user namespace whose processes may hold CAP_SYS_PTRACE (docker's
--cap-add SYS_PTRACE, --privileged) could then open the exe of a process that `exec` forks into
it, or of an init that joins a pid namespace with processes in it, and write to the host's
interpreter once pybox has exited.

For those containers only, the command first executes itself again from a read-only view of the
interpreter: a detached bind mount of the same file with MOUNT_ATTR_RDONLY (open_tree and
mount_setattr), so that /proc/<pid>/exe leads to a file no one can open for writing (EROFS). Its
cost is one more interpreter start (see README, Performance); other containers pay nothing. An
interpreter already on a read-only filesystem needs nothing.
"""

import os
import sys

from pybox import kernel as k
from pybox.errors import PyboxError

MARK = "PYBOX_SEALED_EXE"
PTRACE_MARK = "ptrace"  # in the container's state directory: a process of it was given CAP_SYS_PTRACE


def _has_ptrace(process):
    """process: config.json's process as a view.View."""
    return "CAP_SYS_PTRACE" in process.capabilities.bounding


def _namespaces(config):
    """config: a view.Config."""
    return {ns.type: ns.path for ns in config.linux.namespaces}


def may_ptrace_host(config, processes):
    """Whether a process of the container may hold CAP_SYS_PTRACE in the host's user namespace."""
    return "user" not in _namespaces(config) and any(_has_ptrace(p) for p in processes)


def protect_create(config, reexec=True):
    """create: the init is exposed only when it joins a pid namespace by path (a pod's, shared),
    whose processes' capabilities pybox cannot know; in a new one nothing runs before the init
    has exec'd. (A container in the host's pid namespace sees every host process, pybox's own
    command and runc's alike: that is outside what any runtime can protect.)"""
    namespaces = _namespaces(config)
    if "user" not in namespaces and namespaces.get("pid"):
        _run_from_readonly_view(reexec)


def protect_exec(state_dir, config, process, reexec=True):
    """exec: the process joins a pid namespace where the container's processes run.
    reexec=False (the Python API, which cannot replace its caller): refuse instead."""
    from pybox.runtime.schema import PROCESS
    from pybox.runtime.view import View
    process = View(process, PROCESS)
    exposed = may_ptrace_host(config, [config.process, process])
    if not exposed and "user" not in _namespaces(config):
        exposed = os.path.exists(os.path.join(state_dir, PTRACE_MARK))
    if exposed:
        if _has_ptrace(process) and not os.path.exists(os.path.join(state_dir, PTRACE_MARK)):
            with open(os.path.join(state_dir, PTRACE_MARK), "w"):
                pass
        _run_from_readonly_view(reexec)


def _run_from_readonly_view(reexec=True):
    if os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY:
        os.environ.pop(MARK, None)
        return
    if not reexec:
        raise PyboxError("a process of this container may ptrace the host (CAP_SYS_PTRACE without a "
                         "user namespace): the Python API cannot shield its interpreter; use pybox-runc")
    if os.environ.pop(MARK, None):
        raise PyboxError("could not run the runtime from a read-only view of its interpreter")
    try:
        tree = k.open_tree(k.AT_FDCWD, "/proc/self/exe", k.OPEN_TREE_CLONE | k.OPEN_TREE_CLOEXEC)
        k.mount_setattr(tree, "", k.AT_EMPTY_PATH,
                        attr_set=k.MOUNT_ATTR_RDONLY | k.MOUNT_ATTR_NOSUID | k.MOUNT_ATTR_NODEV)
    except OSError as err:
        raise PyboxError(f"a read-only view of the runtime's interpreter: {err.strerror}") from None
    os.environ[MARK] = "1"
    os.execve(tree, sys.orig_argv, os.environ)
