"""docker-style lifecycle over the OCI runtime: run, start, stop, kill, rm, wait, cleanup.

Detached containers run under conmon: it calls `pybox-runc create`, keeps the container's output in
a k8s-file log and writes the exit status, so no Python process stays per container.

A container's metadata records the runtime --root it was created under (as podman records its
runtime root), and every command here uses that one, whatever --root it was itself given.
"""

import os
import signal
import time

from pybox.errors import PyboxError
from pybox.runtime import container
from pybox.runtime import status as st
from pybox.engine import containers, events, net
from pybox.engine.failure import CannotInvoke
from pybox.runtime.state import Record, now_rfc3339


def open_store():
    from pybox.images.store import Store
    return Store()


def create_box(root, store, v):
    """Image, metadata, rootfs and config.json of a new container (nothing left on failure)."""
    from pybox import jsonio
    from pybox.engine.bundle import build_spec
    from pybox.userns import rootless_uid
    if rootless_uid() is not None:
        from pybox.engine.rootless import check_run
        check_run(v)
    fields = net.settings(v)
    image = _image(store, v["image"])
    box = containers.new(store, v["name"], dict(
        fields, runtime_root=os.path.abspath(root), image=v["image"], image_id=image.id,
        rm=bool(v["rm"]), tty=bool(v["tty"]),
        interactive=bool(v["interactive"]), stop_signal=v["stop_signal"] or _image_stop_signal(image),
        command=[], hostname=v["hostname"] or "", restart=v.get("restart") or ["no", 0]))
    try:
        box.update(hostname=box.data["hostname"] or box.id[:12])
        if box.data["network"].startswith("container:"):
            box.update(netns_path=_netns_of(root, store, box.data["network"][10:]))
        rootfs = store.mount_rootfs(image, box.id)
        spec = build_spec(image.config, rootfs, v, box, net.write_etc(box), store)
        with open(box.path("config.json"), "w") as f:
            f.write(jsonio.dumps(spec))
        box.update(command=spec["process"]["args"], log_path=box.path("ctr.log"),
                   labels=spec.get("annotations") or {})  # for events, after the bundle is gone
    except BaseException:
        release_rootfs(store, box)
        raise
    events.record(store, box, "create")
    return box


def release_rootfs(store, box):
    """The writable layer (the store's), then the record and the bundle (ours); anonymous
    volumes first. In this order a kill leaves a record, which `rm` finds again."""
    from pybox.images.files import remove_tree
    try:
        remove_tree(box.path("volumes"))
    except OSError:
        pass  # the record's removal takes what it can
    store.unmount_rootfs(box.id)
    containers.remove(box)


def _image(store, ref):
    """The image, pulled first when missing, with progress on a terminal (docker's --pull=missing)."""
    import sys
    image = store.find(ref)
    if image is None:
        from pybox.images.progress import Progress
        print(f"Unable to find image '{ref}' locally", file=sys.stderr)
        image = store.pull(ref, progress=Progress.for_stream(sys.stderr))
    return image


def _image_stop_signal(image):
    cfg = image.config.get("config") or {}
    return cfg.get("StopSignal") or "SIGTERM"


def _netns_of(root, store, ref):
    other = containers.resolve(store, ref)
    record = runtime_record(root, other)
    if record is None or not record.init_alive():
        raise PyboxError(f"--network container:{ref}: that container is not running")
    return f"/proc/{record.data['pid']}/ns/net"


def runtime_root(root, box):
    """The --root the container was created under; root for one created before pybox recorded it."""
    return box.data.get("runtime_root") or root


def runtime_record(root, box):
    record = Record(runtime_root(root, box), box.id)
    return record.load() if record.exists() else None


def status_of(root, box):
    """docker's state; "unknown" when conmon still watches a container the runtime has no
    state for under its root (so it may well be running): never "exited" for that."""
    record = runtime_record(root, box)
    if record is None:
        if box.data.get("started") and box.exit_code() is None and _under_conmon(box):
            return "unknown"
        return "exited" if box.data.get("started") else "created"
    status = record.status()
    return {st.STOPPED: "exited", st.CREATED: "created", st.CREATING: "created"}.get(status, status)


# --- starting --------------------------------------------------------------------------------
def run_foreground(root, store, box):
    """Create, connect, start and wait in this process (it stays the container's parent)."""
    from pybox import kernel as k
    from pybox.runtime.foreground import console_pair, forward_signals, receive_master, unignore_interrupts
    root = runtime_root(root, box)
    k.prctl(k.PR_SET_CHILD_SUBREAPER, 1)
    unignore_interrupts()
    opts = container.CreateOptions(bundle=box.bundle)
    console = console_pair(opts)
    relay = None if box.data["tty"] else _relay(box)
    try:
        record = _create_with_stdio(root, box, opts, relay)
    except BaseException as err:
        if isinstance(err, PyboxError):
            _note_failed_start(box, err)
        after_exit(root, store, box)
        raise
    finally:
        if console:
            os.close(console[1])
    pid = record.data["pid"]
    master = receive_master(console[0]) if console else None
    status = 125
    try:
        net.connect(store, box, pid)
        forward_signals(pid)
        container.start(root, box.id)
        box.update(started=now_rfc3339(), exit_code=None, oom_killed=False, error="")
        events.record(store, box, "start")
        if relay:
            relay.run()
        status = _wait_logged(box, pid, master)
        box.update(exit_code=status, finished=now_rfc3339())
    finally:
        after_exit(root, store, box)
    return status


def _wait_logged(box, pid, master):
    """With -t, what the terminal shows goes to ctr.log too (as conmon logs a detached -t run),
    so that `pybox logs` has it."""
    from pybox.runtime.foreground import wait_for
    if master is None:
        return wait_for(pid, master)
    from pybox.engine.relay import k8s_lines
    with open(box.path("ctr.log"), "ab") as log:
        def tee(data):
            log.write(k8s_lines(b"stdout", data))
            log.flush()
        return wait_for(pid, master, tee)


def _relay(box):
    from pybox.engine.relay import Relay
    return Relay(box.path("ctr.log"))


def _create_with_stdio(root, box, opts, relay):
    """Without -i the container's stdin is /dev/null, as docker gives it; output goes via relay."""
    from pybox.engine.relay import Relay
    saved = relay.install() if relay else {}
    if not (box.data["interactive"] or box.data["tty"]):
        saved[0] = os.dup(0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    try:
        return container.create(root, box.id, opts)
    except PyboxError as err:
        raise PyboxError(named(box, str(err))) from None
    finally:
        Relay.restore(saved)


def start_detached(root, store, box, before_start=None, stdin_once=False):
    """conmon creates the container; we connect its network and start it (after before_start(),
    which `start -a` connects to conmon's attach socket in; with stdin_once the container's
    input ends when that attach's does, as docker's StdinOnce)."""
    root = runtime_root(root, box)
    box.update(runtime_root=root)
    _forget_old_run(root, store, box)
    from pybox.userns import rootless_uid
    if rootless_uid() is not None:
        image = store.find(box.data["image_id"])
        if image is None:
            raise PyboxError(f"container {box.name}: its image {box.data['image_id'][7:19]} is gone")
        store.remount_rootfs(image, box.id)
    for sub in ("exits", "sockets"):
        os.makedirs(box.path(sub), exist_ok=True)
    try:
        pid = _conmon_create(root, box, stdin_once)
    except PyboxError as err:
        _note_failed_start(box, err)
        raise
    try:
        net.connect(store, box, pid)
        if before_start:
            before_start()
        container.start(root, box.id)
    except BaseException as err:
        container.delete(root, box.id, force=True)
        net.disconnect(store, box)
        if isinstance(err, PyboxError):
            _note_failed_start(box, err)
        raise
    box.update(started=now_rfc3339(), finished=None, exit_code=None, oom_killed=False, error="")
    events.record(store, box, "start")


def _note_failed_start(box, err):
    """docker's State.Error, and its State.ExitCode of 127/126 when the command cannot be run;
    the container stays created."""
    from pybox.engine.failure import status_for
    code = status_for(err)
    box.update(error=str(err), **({"exit_code": code} if code != 125 else {}))


def _conmon_create(root, box, stdin_once=False):
    """Run conmon; its sync pipe (podman's protocol) answers {"data": pid} or a negative + message."""
    import subprocess
    from pybox import jsonio
    from pybox.runtime.foreground import unignore_interrupts
    unignore_interrupts()  # caught, not ignored: conmon (and so the container) starts with the default
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(conmon_argv(root, box, stdin_once), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 pass_fds=[write_end], start_new_session=True,
                                 env=dict(os.environ, _OCI_SYNCPIPE=str(write_end)))
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.readline()
    child.wait()
    try:
        message = jsonio.loads(answer)
        pid = int(message["data"])
    except (ValueError, KeyError, TypeError):
        message, pid = {}, -1
    if pid <= 0:
        raise PyboxError(named(box, _conmon_error(box, message.get("message", ""))))
    return pid


def _forget_old_run(root, store, box):
    """A stopped container starts again from a fresh runtime record and exit file."""
    container.delete(root, box.id, force=True)
    net.disconnect(store, box)
    for name in ("pidfile", os.path.join("exits", box.id)):
        try:
            os.unlink(box.path(name))
        except FileNotFoundError:
            pass


def conmon_argv(root, box, stdin_once=False):
    runtime, cleanup = pybox_executable("pybox-runc"), pybox_executable("pybox")
    argv = ["conmon", "--api-version", "1", "-c", box.id, "-u", box.id, "-n", box.name,
            "-r", runtime, "-b", box.bundle, "-p", box.path("pidfile"),
            "-P", box.path("conmon.pid"), "-l", f"k8s-file:{box.path('ctr.log')}",
            "--exit-dir", box.path("exits"), "--socket-dir-path", box.path("sockets"),
            "--runtime-arg", "--root", "--runtime-arg", root,
            "--exit-command", cleanup, "--exit-command-arg", "--root",
            "--exit-command-arg", root, "--exit-command-arg", "cleanup",
            "--exit-command-arg", box.id]
    if box.data["tty"]:
        argv.append("-t")
    if box.data.get("interactive"):  # -i: a pipe for `pybox attach` to type into; open across attaches
        argv += ["-i"] if stdin_once else ["-i", "--leave-stdin-open"]
    return argv


def named(box, message):
    """The runtime's "[pybox: ]create ID: why" as "container NAME: why"."""
    message = message.removeprefix("pybox: ")
    return f"container {box.name}: {message.removeprefix(f'create {box.id}: ')}"


def pybox_executable(name):
    """pybox-runc (conmon's runtime) or pybox (its exit command), from the same installation."""
    import shutil
    import sys
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(name)
    if found is None:
        raise PyboxError(f"{name} is not installed next to {sys.executable} nor on PATH")
    return found


def _conmon_error(box, stderr):
    """The runtime's own one-line error, which conmon copies into the log or its stderr."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    try:
        with open(box.path("ctr.log")) as f:
            lines += [line.split(" ", 3)[-1] for line in f if " stderr " in line]
    except FileNotFoundError:
        pass
    return lines[-1].strip() if lines else "conmon failed to create the container"


# --- stopping --------------------------------------------------------------------------------
def reachable_root(root, box):
    """The container's runtime root; an error if it runs where the runtime cannot see it."""
    root = runtime_root(root, box)
    deadline = time.monotonic() + 3
    while status_of(root, box) == "unknown":  # a restart by policy makes the state anew: wait
        if time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        raise PyboxError(f"container {box.name} is still monitored by conmon but has no runtime "
                         f"state under {root} (was it started with another --root?)")
    return root


def signal_box(root, box, sig):
    root = reachable_root(root, box)
    record = runtime_record(root, box)
    if record is None or record.status() not in (st.RUNNING, st.PAUSED, st.CREATED):
        raise PyboxError(f"container {box.name} is not running")
    mark_stopped_by_user(box)
    container.kill(root, box.id, sig, all_processes=sig == signal.SIGKILL)


def stop(root, box, timeout=10):
    """The stop signal, then SIGKILL after timeout seconds; fine on a stopped container."""
    from pybox.runtime.signals import parse_signal
    root = reachable_root(root, box)
    mark_stopped_by_user(box)
    record = runtime_record(root, box)
    if record is None or not record.init_alive():
        _release_network(box)
        return
    try:
        container.kill(root, box.id, parse_signal(box.data.get("stop_signal") or "TERM"))
    except PyboxError:
        return
    if not _wait_dead(record, timeout):
        try:
            container.kill(root, box.id, signal.SIGKILL, all_processes=True)
        except PyboxError:
            pass
        _wait_dead(record, 10)
    wait_exit_code(root, box, 2)
    _release_network(box)


def _release_network(box):
    """As docker's stop: the address is free when stop returns, not once conmon's exit command
    gets to it (which does the same: disconnect is idempotent, and a record update re-reads)."""
    fresh = containers.load_path(box.bundle)
    if fresh is not None:
        net.disconnect(open_store(), fresh)


def _wait_dead(record, timeout):
    deadline = time.monotonic() + timeout
    while record.init_alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def wait_exit_code(root, box, timeout=None):
    """Block until the container has exited and its status is known; return the status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    record = runtime_record(root, box)
    unrecorded_since = None
    while True:
        code = box.exit_code()
        alive = record is not None and record.init_alive()
        if code is not None and not alive:
            return code
        if not alive and not _under_conmon(box):
            # A foreground `run` records the status just after the exit; if that process died
            # too, nobody will.
            unrecorded_since = unrecorded_since or time.monotonic()
            if time.monotonic() - unrecorded_since > 2:
                return 0
        if deadline is not None and time.monotonic() >= deadline:
            return code
        time.sleep(0.02)
        fresh = containers.load_path(box.bundle)
        if fresh is None:  # removed meanwhile (--rm)
            return code
        box.data = fresh.data


def monitored(root, box):
    """True while the container runs or its monitor is still writing its log and status."""
    record = runtime_record(root, box)
    return (record is not None and record.init_alive()) or _under_conmon(box)


def _under_conmon(box):
    try:
        with open(box.path("conmon.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid != os.getppid()  # conmon runs our cleanup and waits for it
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False


def oom_killed(root, box):
    """docker's State.OOMKilled: the kernel's OOM killer killed a process of the container's
    cgroup (memory.oom_control's oom_kill on cgroup v1, memory.events' on v2). Read while the
    runtime's record, and so the cgroup, still exist."""
    record = runtime_record(runtime_root(root, box), box)
    if record is None or not record.data.get("cgroup"):
        return False
    from pybox.cgroups import load_manager
    try:
        return load_manager(record.data["cgroup"]).oom_count() > 0
    except (OSError, ValueError, PyboxError):
        return False


def after_exit(root, store, box):
    """The container has exited: note an OOM kill, release its address; remove it all with --rm."""
    if oom_killed(root, box):
        box.update(oom_killed=True)
    net.disconnect(store, box)
    if box.data.get("started") and not box.data.get("died_logged") == box.data["started"]:
        box.update(died_logged=box.data["started"])  # one die per run, however often called
        events.record(store, box, "die", exitCode=str(box.exit_code() or 0))
    if box.data.get("rm"):
        remove(root, store, box, force=True)


def collect_runtime_orphans(root, store):
    """Containers under the runtime root that the engine made (their bundle is one of its record
    directories) and whose record is gone (a killed `rm`, or a record removed by hand): deleted
    with --force, which takes their cgroups and state. A `pybox-runc` user's own containers under
    the same root are not the engine's and are left alone. Returns their ids."""
    from pybox.runtime.state import all_ids
    top = containers.containers_dir(store)
    gone = []
    for cid in all_ids(root):
        record = Record(root, cid)
        try:
            bundle = record.load().data.get("bundle") or ""
        except (PyboxError, OSError):
            continue
        if os.path.dirname(bundle) == top and not os.path.lexists(os.path.join(bundle, containers.META)):
            try:
                container.delete(root, cid, force=True)
                gone.append(cid)
            except (PyboxError, OSError):
                pass
    return gone


def remove(root, store, box, force=False):
    root = reachable_root(root, box)
    if status_of(root, box) in ("running", "paused") and not force:
        raise PyboxError(f"container {box.name} is running: stop it first or use rm -f")
    container.delete(root, box.id, force=True)
    net.disconnect(store, box)
    _wait_conmon(box)
    release_rootfs(store, box)
    events.record(store, box, "destroy")


def _wait_conmon(box, timeout=3):
    """Until conmon has written the exit status: after that it touches only its cleanup."""
    deadline = time.monotonic() + timeout
    exit_file = box.path("exits", box.id)
    while _under_conmon(box) and not os.path.exists(exit_file) and time.monotonic() < deadline:
        time.sleep(0.01)


def start_again(root, store, box, before_start=None, stdin_once=False):
    """docker start: a running container is left alone; a stopped one runs again, detached
    (a start by hand resets its restart count, as docker's does)."""
    root = reachable_root(root, box)
    if status_of(root, box) in ("running", "paused"):
        return
    box.data.update(stopped_by_user=False, restart_count=0)
    start_detached(root, store, box, before_start, stdin_once)


# --- restart policies (carried out by conmon's exit command, `pybox cleanup`) ---------------
def wants_restart(box):
    policy, limit = box.data.get("restart") or ["no", 0]
    if policy == "no" or box.data.get("stopped_by_user") or box.data.get("rm"):
        return False
    if policy == "on-failure":
        return (box.exit_code() or 0) != 0 and (not limit or box.data.get("restart_count", 0) < limit)
    return True  # always, unless-stopped (they differ only when a daemon restarts: none here)


def restart_by_policy(root, store, box):
    """Start the container again if its policy says so, after docker's back-off (100 ms,
    doubling per restart, from 100 ms again once a run lasted 10 s). True if restarted."""
    if not wants_restart(box):
        return False
    count = box.data.get("restart_count", 0)
    ran = containers.seconds_since(box.data.get("started")) or 0
    time.sleep(0.1 if ran >= 10 else min(0.1 * 2 ** count, 60))
    fresh = containers.load_path(box.bundle)  # stopped, removed or started by hand meanwhile?
    if fresh is None:
        return False
    box.data = fresh.data
    if not wants_restart(box) or status_of(root, box) in ("running", "paused"):
        return False
    box.update(restart_count=count + 1)
    start_detached(root, store, box)
    return True


def restart_in_background(root, box):
    """A foreground run has ended with the first run's status (docker's and podman's `run`
    return then); the policy's restarts go on detached, from conmon's exit command on: the
    first by the same command, `pybox cleanup`, in a session of its own."""
    if not wants_restart(box):
        return
    import subprocess
    subprocess.Popen([pybox_executable("pybox"), "--root", runtime_root(root, box), "cleanup", box.id],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def mark_stopped_by_user(box):
    """stop and kill: the restart policy leaves it stopped (docker's HasBeenManuallyStopped)."""
    if (box.data.get("restart") or ["no"])[0] != "no":
        box.update(stopped_by_user=True)


def exec_user(root, box, text):
    """-u NAME[:GROUP] as uid:gid, names looked up in the container's own /etc/passwd."""
    from pybox.images.config import resolve_user
    from pybox.engine.options import check_user_ids, check_user_text
    record = runtime_record(root, box)
    if record is None:
        raise PyboxError(f"container {box.name} is not running")
    try:
        check_user_text(text, "--user")
        user = resolve_user(text, record.data["rootfs"])
        check_user_ids(user, f"--user {text!r}")
    except PyboxError as err:
        raise UserError(str(err)) from None
    return f"{user['uid']}:{user['gid']}"


class UserError(CannotInvoke):
    """-u names no user the container has: docker's exec cannot start the process (126)."""
