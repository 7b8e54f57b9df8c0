"""pybox as a library: create, start, exec, kill and delete containers without a process per call.

    from pybox.runtime import api
    rt = api.Runtime(root="/run/pybox")              # the state directory `pybox-runc --root` uses
    c = rt.create("web", bundle="/srv/bundles/web")  # an OCI bundle: config.json and its rootfs
    c.start()
    c.exec(["sh", "-c", "echo hi"])                  # -> 0
    c.kill("TERM"); c.wait(timeout=10); c.delete()

It runs the same code as the command line, in the calling process, and keeps its state where the
command line does: `pybox-runc list` sees what the API made, and the API what the command line
made. Errors are api.Error (pybox's PyboxError), one line naming the step and the field, as on
the command line; NotFound and Timeout are kinds of it.

What a program that calls it should know:
- The container's init is a child of the calling process, as with runc's Go library: wait() and
  delete() reap it; status() notices its exit without reaping another child.
- create forks the caller: call it from one thread (a fork copies locks other threads hold).
- The caller is left as it was: no signal handler, subreaper flag, cwd, umask or fd changes, and
  its dumpable flag (which create clears for the fork, against CVE-2019-5736) comes back.
- The container's stdin, stdout and stderr are the caller's unless stdio=(in, out, err) fds are
  given to create.
"""

import os
import time

from pybox.errors import PyboxError

Error = PyboxError


class NotFound(PyboxError):
    """No container by that id under this root."""


class Timeout(PyboxError):
    """wait(timeout=...) ran out."""


class Runtime:
    """Containers under one state directory (root)."""

    def __init__(self, root="/run/pybox", systemd_cgroup=False):
        self.root = os.path.abspath(root)
        self.systemd_cgroup = systemd_cgroup

    def create(self, container_id, bundle, pid_file=None, console_socket=None, stdio=None,
               no_pivot=False, no_new_keyring=False):
        """Set the container up from bundle; its process waits for start(). Nothing is left on
        failure. stdio: (stdin, stdout, stderr) fds for the container, else the caller's."""
        from pybox.runtime import container
        from pybox.runtime.spec import load_bundle
        opts = container.CreateOptions(bundle=bundle, pid_file=pid_file, console_socket=console_socket,
                                       no_pivot=no_pivot, no_new_keyring=no_new_keyring,
                                       systemd_cgroup=self.systemd_cgroup)
        opts.config = load_bundle(opts.bundle)
        from pybox.runtime.selfexe import protect_create
        protect_create(opts.config, reexec=False)
        saved = _swap_stdio(stdio) if stdio is not None else None
        try:
            with _dumpable_kept():
                record = container.create(self.root, container_id, opts)
        finally:
            if saved is not None:
                _restore_stdio(saved)
        return Container(self, container_id, record)

    def get(self, container_id):
        """The container with this id (NotFound if there is none)."""
        return Container(self, container_id, self._record(container_id))

    def list(self):
        """Every container under the root, by id."""
        from pybox.runtime.state import Record, all_ids
        found = []
        for cid in sorted(all_ids(self.root)):
            record = Record(self.root, cid)
            if record.exists():
                try:
                    found.append(Container(self, cid, record.load()))
                except PyboxError:
                    continue  # being created or deleted meanwhile
        return found

    def _record(self, container_id):
        from pybox.runtime.state import open_existing
        try:
            return open_existing(self.root, container_id)
        except PyboxError as err:
            if "does not exist" in str(err):
                raise NotFound(f"container {container_id} does not exist under {self.root}") from None
            raise


class Container:
    """One container. Methods re-read its state, so the command line may act on it too."""

    def __init__(self, runtime, container_id, record):
        self.runtime = runtime
        self.id = container_id
        self._record = record
        self._exit = None  # the init's exit status, once reaped here

    def __repr__(self):
        return f"<pybox container {self.id} {self.status()}>"

    @property
    def pid(self):
        return self._record.data.get("pid")

    @property
    def bundle(self):
        return self._record.data.get("bundle")

    def _fresh(self):
        self._record = self.runtime._record(self.id)
        self._reap(block=False)
        return self._record

    def status(self):
        """created, running, paused or stopped (creating while create runs elsewhere)."""
        try:
            return self._fresh().status()
        except NotFound:
            return "stopped"

    def state(self):
        """The runtime-spec state, as `pybox-runc state` prints it."""
        return self._fresh().oci_state()

    def start(self):
        from pybox.runtime import container
        container.start(self.runtime.root, self.id)

    def kill(self, signal=15, all_processes=False):
        from pybox.runtime import container
        from pybox.runtime.signals import parse_signal
        sig = parse_signal(str(signal)) if not isinstance(signal, int) else signal
        container.kill(self.runtime.root, self.id, sig, all_processes=all_processes)

    def pause(self):
        from pybox.runtime import container
        container.pause(self.runtime.root, self.id)

    def resume(self):
        from pybox.runtime import container
        container.resume(self.runtime.root, self.id)

    def wait(self, timeout=None):
        """The init's exit status (128+N for signal N) once it has exited; None when it is not
        this process's child (made by the command line), which cannot learn the status.
        Timeout when it runs longer than timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._reap(block=deadline is None):
                return self._exit
            if self._exit is None and not self._record.init_alive():
                # It may have exited just after _reap looked: look once more before giving up.
                return self._exit if self._reap(block=False) else None  # else: not ours, and gone
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout(f"container {self.id} is still running after {timeout} s")
            time.sleep(0.005)

    def _reap(self, block):
        """True once the init (our child) has been reaped, here or before."""
        if self._exit is not None:
            return True
        pid = self._record.data.get("pid")
        if not pid:
            return False
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return False  # not our child: the command line made it, or it was reaped already
        if done == 0:
            return False
        self._exit = _exit_status(status)
        return True

    def exec(self, args, env=None, cwd=None, tty=False, user=None, console_socket=None):
        """Run args in the container and wait; returns its exit status. tty needs console_socket
        (the pty master is sent there, as with `pybox-runc exec -t --console-socket`)."""
        from pybox.runtime.exec import ExecOptions, build_process, spawn
        if tty and not console_socket:
            raise PyboxError("exec: tty=True needs a console_socket to send the terminal to")
        record = self._fresh()
        process = build_process(record, {"args": list(args), "tty": tty, "env": list(env or ()),
                                         "cwd": cwd, "user": user})
        opts = ExecOptions(console_socket=console_socket)
        with _dumpable_kept():
            pid, master = spawn(self.runtime.root, self.id, process, opts)
        if master is not None:
            os.close(master)
        _, status = os.waitpid(pid, 0)
        return _exit_status(status)

    def delete(self, force=False):
        """Remove the container (force: also a running one, killed first); reaps the init."""
        from pybox.runtime import container
        try:
            container.delete(self.runtime.root, self.id, force=force)
        finally:
            self._reap(block=False)


class _dumpable_kept:
    """The launch clears the caller's dumpable flag for its fork (CVE-2019-5736): give it back."""

    def __enter__(self):
        from pybox import kernel as k
        self.flag = k.prctl(k.PR_GET_DUMPABLE)

    def __exit__(self, *exc):
        from pybox import kernel as k
        k.prctl(k.PR_SET_DUMPABLE, self.flag)


def _exit_status(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _swap_stdio(stdio):
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    for target, fd in enumerate(stdio):
        if fd is not None and fd != target:
            os.dup2(fd, target)
    return saved


def _restore_stdio(saved):
    for target, fd in enumerate(saved):
        os.dup2(fd, target)
        os.close(fd)
