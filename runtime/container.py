"""The container lifecycle: create, start, kill, delete, pause, resume, pids.

The CLI modules parse and render; the rules about which status allows what live here and in
status.py. Every operation that changes a container holds its lock.
"""

import os
import time
from _signal import SIGKILL  # `signal` imports enum: several ms on every command

from pybox.errors import PyboxError
from pybox.runtime import status as st
from pybox.fsutil import write_atomic
from pybox.runtime.state import Record, open_existing


class CreateOptions:
    def __init__(self, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
                 no_new_keyring=False, preserve_fds=0, systemd_cgroup=False, notify_socket=None):
        self.bundle = os.path.abspath(bundle)
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.systemd_cgroup = systemd_cgroup
        self.notify_socket = notify_socket  # the host's, from --notify-socket (else $NOTIFY_SOCKET)
        self.console_fd = None  # set by `run`, which holds the terminal itself
        self.config = None  # the bundle's config, when the caller has loaded it already


def create(root, container_id, opts):
    """Create the container; returns its Record. Nothing is left behind on failure."""
    from pybox.runtime.view import Config
    from pybox.runtime.spec import load_bundle, validate
    record = Record(root, container_id)
    config = opts.config if opts.config is not None else load_bundle(opts.bundle)
    if not isinstance(config, Config):  # a caller's own dict: the same one check
        config = validate(config, opts.bundle)
    _make_dir(root, record)
    handlers = None
    try:
        record.lock()
        notify_host = _prepare_notify(config, record.dir, opts)
        os.mkfifo(record.fifo)
        os.chmod(record.fifo, 0o622)  # the init may no longer be root when it opens it
        handlers = _handlers(record, config, opts, notify_host)
        pid = _start_init(handlers, opts)
        if opts.pid_file:
            write_atomic(os.path.abspath(opts.pid_file), str(pid))
    except BaseException as err:
        _undo_create(record, handlers.cgroup if handlers else None)
        if isinstance(err, PyboxError):
            raise err.within(f"create {container_id}") from None
        raise
    finally:
        record.unlock()
    return record


def _make_dir(root, record):
    try:
        os.makedirs(root, 0o711, exist_ok=True)
    except OSError as err:
        raise PyboxError(f"state directory (--root) {root}: {err.strerror}") from None
    try:
        os.mkdir(record.dir, 0o711)
    except FileExistsError:
        raise PyboxError(f"container with id {record.id} already exists") from None


def _prepare_notify(config, state_dir, opts):
    """The host's notify socket, if there is one, with the container's side of it set up."""
    if os.environ.get("NOTIFY_SOCKET") or opts.notify_socket:
        from pybox.runtime import notify
        notify.prepare(config, state_dir)
        return notify.host_socket(opts.notify_socket)
    return None


def _handlers(record, config, opts, notify_host):
    from pybox.runtime.creation import CreateHandlers
    from pybox.runtime.init.context import InitContext
    from pybox.runtime.spec import root_path
    ctx = InitContext(config, root_path(config, opts.bundle), record.dir, console_fd=opts.console_fd,
                      no_pivot=opts.no_pivot, no_new_keyring=opts.no_new_keyring,
                      preserve_fds=opts.preserve_fds)
    return CreateHandlers(ctx, record, config, opts, notify_host)


def _start_init(handlers, opts):
    from pybox.runtime.launch import launch
    ctx, config = handlers.ctx, handlers.config
    direct = ctx.forks_init_directly
    if not direct:  # the intermediate reports the pid only later: record the container now
        handlers.record_container()
        handlers.record.save()
    ctx.seccomp = _compile_seccomp(config)
    if any("idmap" in m.options or "ridmap" in m.options for m in config.mounts):
        from pybox.runtime.idmap import idmap_fds
        ctx.idmap_fds = idmap_fds(config)
    console_sock = None
    if config.process.terminal and ctx.console_fd is None:
        from pybox.runtime.console import require_socket
        from pybox.runtime.sync import connect_unix
        require_socket(opts.console_socket)
        console_sock = connect_unix(opts.console_socket)
        ctx.console_fd = console_sock.fileno()
    ctx.open_state_fds()
    try:
        return launch(ctx, "stages.direct_init" if direct else "stages.intermediate", handlers, direct=direct)
    finally:
        ctx.close_state_fds()
        for fd in ctx.idmap_fds.values():
            os.close(fd)
        if console_sock is not None:
            console_sock.close()


def _compile_seccomp(config):
    profile = config.linux.seccomp
    if not profile:
        return None
    from pybox.seccomp import compile_filter
    caps = config.process.capabilities
    return compile_filter(profile.raw, capabilities=caps.effective if "effective" in caps else None)


def _undo_create(record, cgroup):
    pid = record.data.get("pid")
    if pid:
        _kill_and_wait(pid, record)
    if cgroup is not None:
        try:
            cgroup.signal_all(SIGKILL)
            cgroup.destroy()
        except (OSError, PyboxError):
            pass
    _remove_dir(record.dir)


def _remove_dir(path):
    """A state directory holds only plain files (shutil costs 7 ms to import)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except IsADirectoryError:
            _remove_dir(os.path.join(path, name))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


def start(root, container_id, record=None):
    """record: the one create returned, when the caller is `run` (saves reading it back)."""
    record = (record or open_existing(root, container_id)).lock()
    listener = None
    try:
        st.require("start", record.status(), container_id)
        listener = _notify_listener(record)
        _release_init(record)
        os.unlink(record.fifo)
        _poststart_hooks(record)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    finally:
        record.unlock()
    if listener is not None:
        try:
            listener.pass_on_ready(record.data["pid"], record.init_alive)
        finally:
            listener.close()


def _notify_listener(record):
    """Listening before the process runs, so its READY=1 cannot be missed (runtime/notify.py)."""
    if not record.data.get("notify_socket"):
        return None
    from pybox.runtime import notify
    return notify.Listener(record.dir, notify.host_socket() or record.data["notify_socket"])


def _poststart_hooks(record):
    config = record.config()
    if not (config.get("hooks") or {}).get("poststart"):  # as JSON: the schema costs start 0.4 ms
        return
    # runtime-spec: a failing poststart hook is logged as a warning; the hooks after it still
    # run and the container keeps running.
    _run_hooks_warning(config, "poststart", record.oci_state(), f"start {record.id}")


def _run_hooks_warning(config, kind, state, where):
    from pybox import log
    from pybox.runtime.hooks import run_hooks
    run_hooks(config, kind, state, on_failure=lambda err: log.warning(None, f"{where}: {err}"))


def _release_init(record):
    """Open the exec fifo and read the init's byte; the init then execs the user's process.

    The init is blocked opening the fifo for writing, so the byte arrives at once; the loop
    only guards against an init that died meanwhile (a blocking open would wait forever).
    """
    fd = os.open(record.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        for attempt in range(1 << 30):
            try:
                if os.read(fd, 1):
                    return
            except BlockingIOError:
                pass
            if attempt % 64 == 63 and not record.init_alive():
                raise PyboxError(f"start {record.id}: the container init has exited")
            time.sleep(0.0001 if attempt < 1000 else 0.005)
    finally:
        os.close(fd)


def kill(root, container_id, sig, all_processes=False):
    record = open_existing(root, container_id)
    status = record.status()
    if status == st.STOPPED and all_processes and record.data.get("cgroup"):
        _signal_cgroup(record, sig)
        return
    st.require("kill", status, container_id)
    if all_processes and record.data.get("cgroup"):
        _signal_cgroup(record, sig)
    else:
        _signal_init(record, sig)


def _signal_init(record, sig):
    from pybox import kernel as k
    try:
        # A pidfd names exactly this process even if the pid were reused meanwhile.
        pidfd = k.pidfd_open(record.data["pid"])
    except ProcessLookupError:
        raise PyboxError("container not running") from None
    try:
        if not record.init_alive():
            raise PyboxError("container not running")
        k.pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


def _signal_cgroup(record, sig):
    from pybox.cgroups import load_manager
    manager = load_manager(record.data["cgroup"])
    if sig == SIGKILL or not manager.frozen():
        manager.signal_all(sig)
    else:
        manager.signal_all(sig)
        manager.thaw()


def delete(root, container_id, force=False, record=None):
    """record: the one create returned, when the caller is `run` (saves reading it back)."""
    loaded = record is not None
    record = record or Record(root, container_id)
    if not os.path.isdir(record.dir):
        if force:
            return
        raise PyboxError("container does not exist")
    record.lock()
    try:
        if not loaded and record.exists():
            record.load()
        status = record.status() if record.data else st.STOPPED
        if status != st.STOPPED and not force:
            st.require("delete", status, container_id)
        _destroy(record)
    finally:
        record.unlock()


def _destroy(record):
    config = record.config()
    cgroup_record = record.data.get("cgroup")
    if cgroup_record:
        from pybox.cgroups import load_manager
        manager = load_manager(cgroup_record)
        manager.signal_all(SIGKILL)
        if manager.frozen():
            manager.thaw()
    if record.data.get("pid"):
        _kill_and_wait(record.data["pid"], record)
    if cgroup_record:
        manager.destroy()
    state = record.oci_state(status=st.STOPPED)
    _remove_dir(record.dir)
    if not (config.get("hooks") or {}).get("poststop"):  # as JSON: the schema costs delete 0.4 ms
        return
    _run_hooks_warning(config, "poststop", state, f"delete {record.id}")  # as poststart


def _kill_and_wait(pid, record):
    """SIGKILL the init and wait until it has exited, through a pidfd: it names exactly this
    process (not a later one given the same pid) and polls readable the moment it exits, where
    sleeping between looks at /proc cost delete about 2 ms. Our own child (the API's) is reaped."""
    from pybox import kernel as k
    from pybox.runtime.state import pid_start_time
    start_time = record.data.get("pid_start")
    try:
        pidfd = k.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        # After the pidfd is open, a matching start time proves it is the container's init.
        if start_time is None or pid_start_time(pid) != start_time:
            return
        try:
            k.pidfd_send_signal(pidfd, SIGKILL)
        except ProcessLookupError:
            pass
        import select
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll(10000)
    finally:
        os.close(pidfd)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def pause(root, container_id):
    _freeze(root, container_id, "pause")


def resume(root, container_id):
    _freeze(root, container_id, "resume")


def _freeze(root, container_id, operation):
    record = open_existing(root, container_id).lock()
    try:
        st.require(operation, record.status(), container_id)
        if not record.data.get("cgroup"):
            raise PyboxError(f"{operation}: the container has no cgroup to freeze")
        from pybox.cgroups import load_manager
        manager = load_manager(record.data["cgroup"])
        manager.freeze() if operation == "pause" else manager.thaw()
    finally:
        record.unlock()


def pids(root, container_id):
    record = open_existing(root, container_id)
    if record.data.get("cgroup"):
        from pybox.cgroups import load_manager
        return load_manager(record.data["cgroup"]).pids()
    return [record.data["pid"]] if record.init_alive() else []
