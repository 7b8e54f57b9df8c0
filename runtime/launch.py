"""The parent's side of create: fork the intermediate, answer the init, record the state."""

import os
import signal

from pybox.errors import PyboxError
from pybox.runtime.sync import Channel


def launch(ctx, record, cgroup, on_hooks):
    """Fork and converse until the init is ready; returns the init's host pid."""
    parent, child = Channel.pair()
    ctx.sync = child
    intermediate_pid = os.fork()
    if intermediate_pid == 0:
        parent.close()
        from pybox.runtime.init.stages import intermediate
        intermediate(ctx)
    child.close()
    init_pid = None
    try:
        init_pid = _converse(parent, ctx, record, cgroup, intermediate_pid, on_hooks)
    except BaseException:
        if init_pid or record.data.get("pid"):
            _kill(record.data.get("pid"))
        _reap(intermediate_pid)
        raise
    finally:
        parent.close()
    return init_pid


def _converse(channel, ctx, record, cgroup, intermediate_pid, on_hooks):
    init_pid = None
    while True:
        tag, payload, fd = channel.receive()
        if tag == "userns":
            write_id_maps(intermediate_pid, ctx.linux)
            channel.send("userns-ok")
        elif tag == "pid":
            init_pid = payload["pid"]
            _reap(intermediate_pid)
            from pybox.runtime.state import pid_start_time
            record.data["pid"] = init_pid
            record.data["pid_start"] = pid_start_time(init_pid)
            channel.send("go", creating_state(record, init_pid))
        elif tag == "hooks":
            on_hooks(init_pid)
            channel.send("hooks-ok")
        elif tag == "cgroup":
            if cgroup is not None:
                cgroup.add(init_pid)
            channel.send("cgroup-ok")
        elif tag == "seccomp":
            _forward_listener(ctx, record, fd)
        elif tag == "ready":
            return init_pid
        elif tag == "error":
            raise PyboxError(payload["message"])
        else:
            raise PyboxError("container init exited before it was ready")


def creating_state(record, pid):
    state = record.oci_state()
    state.update(pid=pid, status="creating")
    return state


def _forward_listener(ctx, record, fd):
    from pybox.seccomp import send_listener
    try:
        send_listener(ctx.seccomp, fd, record.oci_state())
    finally:
        os.close(fd)


def write_id_maps(pid, linux):
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or [])
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
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
