"""exec: start another process in a running container, with its namespaces, cgroup and seccomp."""

import os

from pybox.errors import PyboxError
from pybox.runtime import status as st
from pybox.runtime.spec import NAMESPACE_FILES, _validate_process
from pybox.fsutil import write_atomic
from pybox.runtime.state import open_existing
from pybox.userns import in_user_namespace


def build_process(record, overrides):
    """The container's own process object with exec's arguments applied, as runc does."""
    config = record.config()
    base = dict(config.get("process") or {})
    base.pop("consoleSize", None)
    base["args"] = overrides["args"]
    base["terminal"] = bool(overrides.get("tty"))
    base["env"] = list(base.get("env") or []) + list(overrides.get("env") or [])
    if overrides.get("cwd"):
        base["cwd"] = overrides["cwd"]
    if overrides.get("user"):
        base["user"] = _parse_user(overrides["user"], overrides.get("additional_gids") or [])
    caps = overrides.get("caps") or []
    if caps:
        sets = {kind: list(names or []) for kind, names in (base.get("capabilities") or {}).items()}
        for kind in ("bounding", "effective", "permitted"):
            sets[kind] = sets.get(kind, []) + [c for c in caps if c not in sets.get(kind, [])]
        base["capabilities"] = sets
    if overrides.get("no_new_privs"):
        base["noNewPrivileges"] = True
    return base


def _parse_user(text, gids):
    uid, _, gid = text.partition(":")
    try:
        user = {"uid": int(uid), "gid": int(gid or 0)}
        if gids:
            user["additionalGids"] = [int(g) for g in gids]
    except ValueError:
        raise PyboxError(f"exec: --user takes uid[:gid] as numbers, not {text!r}") from None
    return user


def load_process_file(path):
    from pybox import jsonio
    try:
        with open(path, "rb") as f:
            return jsonio.loads(f.read())
    except OSError as err:
        raise PyboxError(f"exec: --process {path}: {err.strerror}") from None
    except ValueError as err:
        raise PyboxError(f"exec: --process {path}: not valid JSON: {err}") from None


class ExecOptions:
    def __init__(self, detach=False, pid_file=None, console_socket=None, preserve_fds=0,
                 ignore_paused=False, cgroups=()):
        self.detach = detach
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.ignore_paused = ignore_paused
        self.cgroups = list(cgroups)  # --cgroup [CONTROLLER[,CONTROLLER]:]PATH, as runc takes them


def exec_process(root, container_id, process, opts):
    """Start process in the container; returns its exit status, or 0 at once with detach."""
    if not opts.detach:
        from pybox import kernel as k
        from pybox.runtime.foreground import unignore_interrupts
        k.prctl(k.PR_SET_CHILD_SUBREAPER, 1)
        unignore_interrupts()
    pid, master = spawn(root, container_id, process, opts, reexec=True)
    if opts.pid_file:
        write_atomic(os.path.abspath(opts.pid_file), str(pid))
    if opts.detach:
        return 0
    from pybox.runtime.foreground import forward_signals, wait_for
    forward_signals(pid)
    return wait_for(pid, master)


def spawn(root, container_id, process, opts, reexec=False):
    """Check, then start process in the container: (its pid, the pty master or None). It is a
    child of the caller, who waits for it. reexec: the command line, which may run itself again
    from a read-only view of the interpreter (selfexe.py) before anything is done."""
    record = open_existing(root, container_id)
    status = record.status()
    if not (status == st.PAUSED and opts.ignore_paused):
        st.require("exec", status, container_id)
    if not isinstance(process, dict):
        raise PyboxError("exec: the process must be a JSON object")
    _validate_process(process, "process")
    config = record.config()
    cgroup = _cgroup(record, opts.cgroups)  # before anything is forked: a bad --cgroup is one line
    from pybox.runtime.selfexe import protect_exec
    protect_exec(record.dir, config, process, reexec=reexec)  # may execute this command again
    return _launch(record, config, process, opts, cgroup)


def _launch(record, config, process, opts, cgroup):
    from pybox.runtime.init.context import InitContext
    from pybox.runtime.launch import Handlers, launch
    from pybox.runtime.view import Config
    tenant_config = Config(config, process=process)
    ctx = InitContext(tenant_config, record.data["rootfs"], record.dir, preserve_fds=opts.preserve_fds)
    ctx.joins = _namespace_paths(record.data["pid"], config)
    ctx.init_pid = record.data["pid"]
    ctx.new_flags = 0
    ctx.seccomp = _seccomp_for(config, process)
    console, master = _console(process, opts, ctx)
    try:
        # Rootless, and in a user namespace (the parent could not come back to its own pid
        # namespace, the host's): an intermediate joins the namespaces and forks the process.
        if (os.geteuid() != 0 and any(kind == "user" for kind, _ in ctx.joins)) or in_user_namespace():
            pid = launch(ctx, "tenant.intermediate", Handlers(ctx, cgroup))
        else:
            pid = launch(ctx, "tenant.tenant", Handlers(ctx, cgroup), direct=True)
    finally:
        if console is not None:
            console.close()
    if master is not None:
        from pybox.runtime.sync import receive_fd
        master_fd = receive_fd(master)
        master.close()
        return pid, master_fd
    return pid, None


def _namespace_paths(pid, config):
    kinds = [ns.type for ns in config.linux.namespaces]
    return [(kind, f"/proc/{pid}/ns/{NAMESPACE_FILES[kind]}") for kind in kinds]


def _seccomp_for(config, process):
    profile = config.linux.seccomp
    if not profile:
        return None
    from pybox.runtime.schema import PROCESS
    from pybox.runtime.view import View
    from pybox.seccomp import compile_filter
    caps = View(process, PROCESS).capabilities
    return compile_filter(profile.raw, capabilities=caps.effective if "effective" in caps else None)


def _cgroup(record, requests=()):
    """What the process joins: the container's cgroup, or existing sub-cgroups of it (--cgroup)."""
    if not record.data.get("cgroup"):
        if requests:
            raise PyboxError("exec --cgroup: the container has no cgroup of its own")
        return None
    from pybox.cgroups import load_manager
    manager = load_manager(record.data["cgroup"])
    if not requests:
        return manager
    return manager.sub_cgroups(_parse_sub_cgroups(requests))


def _parse_sub_cgroups(requests):
    """{controller: (path, how errors name it)}, "" standing for every controller (runc's rules: a
    path without a controller must be the only --cgroup; a controller is named once)."""
    paths = {}
    for arg in requests:
        parts = arg.split(":")
        if len(parts) > 2 or not parts[-1]:
            raise PyboxError(f"exec --cgroup {arg}: give [CONTROLLER[,CONTROLLER]:]PATH")
        if len(parts) == 1:
            if len(requests) != 1:
                raise PyboxError(f"exec --cgroup {arg}: name its controller (CONTROLLER:PATH) "
                                 "when --cgroup is given more than once")
            paths[""] = (arg, f"exec --cgroup {arg}")
            continue
        for controller in parts[0].split(","):
            if not controller:
                raise PyboxError(f"exec --cgroup {arg}: empty controller name")
            if controller in paths:
                raise PyboxError(f"exec --cgroup: controller {controller} is named more than once")
            paths[controller] = (parts[1], f"exec --cgroup {arg}")
    return paths


def _console(process, opts, ctx):
    """Returns (socket to close after launch, socket to receive the master from, or None)."""
    if not process.get("terminal"):
        return None, None
    if opts.console_socket:
        from pybox.runtime.sync import connect_unix
        sock = connect_unix(opts.console_socket)
        ctx.console_fd = sock.fileno()
        return sock, None
    if opts.detach:
        raise PyboxError("exec: --tty with --detach needs --console-socket")
    import _socket
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    ctx.console_fd = theirs.fileno()
    return theirs, ours
