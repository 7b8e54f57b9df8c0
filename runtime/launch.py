"""The parent's side of the conversation with the processes it forks (protocol: sync.py)."""

import os
import sys
from _signal import SIGKILL

from pybox import kernel as k
from pybox.cgroups import warmup
from pybox.errors import PyboxError
from pybox.runtime import forkns
from pybox.runtime.sync import Channel


class Handlers:
    """What the parent does at each step; create (creation.py) and exec differ only here."""

    def __init__(self, ctx, cgroup=None):
        self.ctx = ctx
        self.cgroup = cgroup
        self.pid = None
        self.reaped = False  # the forked child is waited for: its pid may be anyone's now

    def prepare(self):
        """Right after the fork, while the child enters its namespaces."""

    def on_pid(self, pid):
        self.pid = pid
        return None  # the payload of "go"

    def after_go(self):
        """Once "go" is sent, while the init pivots into its root."""

    def on_hooks(self):
        pass

    def on_cgroup(self):
        if self.cgroup is not None:
            self.cgroup.add(self.pid)
        warmup.stop()

    def on_seccomp(self, fd):
        os.close(fd)


def move_net_devices(pid, devices):
    """linux.netDevices: host interfaces move into the container's network namespace."""
    if not devices:
        return
    import socket
    from pybox.netns.rtnl import Rtnl
    try:
        netns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise PyboxError(f"linux.netDevices: the container's network namespace: {err.strerror}") from None
    try:
        with Rtnl() as rtnl:
            for host_name, device in devices.items():
                try:
                    index = socket.if_nametoindex(host_name)
                except OSError:
                    raise PyboxError(f"linux.netDevices.{host_name}: no such network interface on the host") from None
                try:
                    rtnl.move_link(index, netns_fd, (device or {}).get("name", host_name))
                except OSError as err:
                    raise PyboxError(f"linux.netDevices.{host_name}: {err.strerror or err}") from None
    finally:
        os.close(netns_fd)


def launch(ctx, entry, handlers, direct=False):
    """Fork, run `entry` ("module.function" of runtime/init/) there and answer it until it is
    ready; returns the init's pid.

    entry is an intermediate that forks the init and reports its pid or, when direct, the init
    itself, born in the namespaces this process hands over for the fork (forkns.py).
    """
    check_preserved_fds(ctx.preserve_fds)
    parent, child = Channel.pair()
    ctx.sync = child
    own_pid_ns, ctx.given_by_parent = forkns.enter_for_child(ctx) if direct else (None, 0)
    # CVE-2019-5736: the child is born not dumpable, so that not even in its first instructions
    # can a process of the container open its /proc/<pid>/exe (the host's interpreter).
    k.prctl(k.PR_SET_DUMPABLE, 0)
    try:
        forked = os.fork()
        if forked == 0:
            parent.close()
            _run_child(ctx, entry)
    finally:
        forkns.come_back(own_pid_ns)  # before anything else forks: hooks, say
    child.close()
    try:
        if direct:
            _send_go(parent, handlers.on_pid(forked))
        handlers.prepare()
        if direct:
            handlers.after_go()
        _converse(parent, ctx, handlers, None if direct else forked)
    except BaseException:
        # Close first: an intermediate waiting for "userns-ok" (or any other answer) gets EOF
        # and exits; then kill what may still run (our child, unless it is reaped already).
        parent.close()
        _kill(handlers.pid)
        if not handlers.reaped:
            _kill(forked)
        _reap(forked)
        raise
    finally:
        warmup.stop()
        parent.close()
    return handlers.pid


def check_preserved_fds(count):
    """--preserve-fds N passes fds 3..N+2, which the caller must have given us. Refused, as runc
    does, when one is not open; and when one is ours (close-on-exec, as everything pybox opens):
    the state directory's lock held by the container would make `delete` wait forever."""
    for fd in range(3, 3 + count):
        try:
            inherited = os.get_inheritable(fd)
        except OSError:
            raise PyboxError(f"--preserve-fds {count}: fd {fd} is not open") from None
        if not inherited:
            raise PyboxError(f"--preserve-fds {count}: fd {fd} was not passed to pybox")


def _run_child(ctx, entry):
    """In the child, which imports the init's code itself: meanwhile the parent, whose time is
    what a create waits for, gets on with the record and the cgroup."""
    module, function = entry.split(".")
    try:
        __import__(f"pybox.runtime.init.{module}")
    except BaseException as err:  # noqa: BLE001
        ctx.sync.fail(f"loading the container init: {err}")
        os._exit(1)
    getattr(sys.modules[f"pybox.runtime.init.{module}"], function)(ctx)  # never returns


def _converse(channel, ctx, handlers, intermediate_pid):
    """intermediate_pid: None when the init was forked directly (it then sends no "pid")."""
    while True:
        tag, payload, fd = channel.receive()
        if tag == "userns":
            write_id_maps(intermediate_pid, ctx.linux)
            channel.send("userns-ok")
        elif tag == "pid":
            _reap(intermediate_pid)
            handlers.reaped = True
            _send_go(channel, handlers.on_pid(payload["pid"]))
            handlers.after_go()
        elif tag == "hooks":
            handlers.on_hooks()
            channel.send("hooks-ok")
        elif tag == "cgroup":
            handlers.on_cgroup()
            channel.send("cgroup-ok")
        elif tag == "seccomp":
            handlers.on_seccomp(fd)
        elif tag == "warning":
            warn(payload["message"])
        elif tag == "ready":
            return
        elif tag == "error":
            raise PyboxError(payload["message"])
        else:
            raise PyboxError("the container process exited before it was ready")


def warn(message):
    """One line on stderr and in --log, and go on (what runc logs at level warning)."""
    from pybox import log
    sys.stderr.write(f"pybox: warning: {message}\n")
    log.write(None, "warning", message)


def _send_go(channel, payload):
    try:
        channel.send("go", payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the init failed while mounting: its "error" is waiting to be received


def write_id_maps(pid, linux):
    if os.geteuid() != 0:
        from pybox.runtime.rootless import write_id_maps_rootless
        return write_id_maps_rootless(pid, linux)
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m.containerID} {m.hostID} {m.size}\n" for m in getattr(linux, key))
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)
        except OSError as err:
            raise PyboxError(f"linux.{key}: writing {name}: {err.strerror}") from None


def _reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill(pid):
    if pid:
        try:
            os.kill(pid, SIGKILL)
        except ProcessLookupError:
            pass
