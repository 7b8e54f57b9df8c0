"""The runtimes `pybox bench` drives: any binary with runc's command line, and pybox's Python API.

Each Driver creates, starts, checks, deletes one container at a time by id, with its own state
directory. crun 1.8.1 refuses a hybrid cgroup host whose cgroup2 mount is empty: its commands run
in a private mount namespace with an empty tmpfs over /sys/fs/cgroup/unified (the host's mounts
are not touched). runsc (gVisor) runs with its ptrace platform and without a network of its own.
"""

import os
import shutil
import subprocess

from pybox.errors import PyboxError

CRUN_NOTE = ("crun runs in a private mount namespace that hides the empty cgroup2 mount at "
             "/sys/fs/cgroup/unified, which crun 1.8.1 refuses on a hybrid host")


class Driver:
    note = None

    def __init__(self, name, root):
        self.name = name
        self.root = root
        os.makedirs(root, exist_ok=True)

    def create(self, cid, bundle):
        raise NotImplementedError

    def start(self, cid):
        raise NotImplementedError

    def status(self, cid):
        """(status, pid) as the runtime's state says."""
        raise NotImplementedError

    def delete(self, cid):
        """Of a stopped container."""
        raise NotImplementedError

    def remove(self, cid):
        """Of any container (delete --force)."""
        raise NotImplementedError

    def running_pid(self, cid):
        """The pid of the container's process once it runs, else None."""
        status, pid = self.status(cid)
        return pid if status == "running" else None

    def close(self):
        pass


class CommandLine(Driver):
    """runc's command line: pybox-runc, runc, crun, runsc or any PATH."""

    def __init__(self, name, root, argv, extra=()):
        super().__init__(name, root)
        self.argv = [*argv, "--root", root, *extra]

    def _run(self, *args, out=False):
        return run_command(self.argv, self.name, args, out=out)

    def create(self, cid, bundle):
        self._run("create", "--bundle", bundle, cid)

    def start(self, cid):
        self._run("start", cid)

    def status(self, cid):
        from pybox import jsonio
        state = jsonio.loads(self._run("state", cid, out=True))
        return state.get("status"), state.get("pid")

    def delete(self, cid):
        self._run("delete", cid)

    def remove(self, cid):
        self._run("delete", "--force", cid)


def run_command(argv, label, args, out=False, env=None, timeout=120):
    """argv + args; its stdout (out=True); a failure is one PyboxError line: label, the command,
    the last line it wrote. A file, not a pipe, for stderr: a created init keeps the runtime's
    stdio open, and a pipe would wait for it."""
    import tempfile
    with tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run([*argv, *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if out else subprocess.DEVNULL, stderr=err,
                                  env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PyboxError(f"{label} {args[0]}: no answer in {timeout} s") from None
        if done.returncode != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            raise PyboxError(f"{label} {args[0]}: {lines[-1] if lines else f'exit status {done.returncode}'}")
    return done.stdout


class Api(Driver):
    """pybox.runtime.api in this process: no interpreter start-up per step."""

    def __init__(self, name, root):
        super().__init__(name, root)
        from pybox.runtime import api
        self.rt = api.Runtime(root=root)
        self.null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.made = {}
        import threading
        self.forking = threading.Lock()

    def create(self, cid, bundle):
        # create forks this process and swaps its stdio for the child's: one thread at a time
        with self.forking:
            self.made[cid] = self.rt.create(cid, bundle=bundle, stdio=(self.null,) * 3)

    def start(self, cid):
        self.made[cid].start()

    def status(self, cid):
        c = self.made.get(cid) or self.rt.get(cid)
        return c.status(), c.pid

    def delete(self, cid):
        (self.made.pop(cid, None) or self.rt.get(cid)).delete()

    def remove(self, cid):
        (self.made.pop(cid, None) or self.rt.get(cid)).delete(force=True)

    def close(self):
        os.close(self.null)


def crun_prefix():
    """A private mount namespace hiding the empty cgroup2 mount that crun 1.8.1 refuses."""
    script = "mount --make-rprivate / && mount -t tmpfs none /sys/fs/cgroup/unified && exec \"$@\""
    return ["unshare", "-m", "sh", "-c", script, "crun-in-private-ns"]


def driver(spec, root):
    """A Driver for a --runtime value: pybox, pybox-api, runc, crun, runsc or a path."""
    if spec == "pybox-api":
        return Api(spec, root)
    if spec == "pybox":
        import sys
        path = os.path.join(os.path.dirname(sys.executable), "pybox-runc")
        return CommandLine(spec, root, [path if os.path.exists(path) else "pybox-runc"])
    path = spec if "/" in spec else shutil.which(spec)
    if path is None or not os.access(path, os.X_OK):
        raise PyboxError(f"bench: --runtime {spec}: no such runtime on PATH (give a path to a "
                         "runc-compatible binary)")
    name = os.path.basename(spec)
    if name == "crun" and os.path.isdir("/sys/fs/cgroup/unified"):
        d = CommandLine(name, root, [*crun_prefix(), path])
        d.note = CRUN_NOTE
        return d
    if name == "runsc":
        return CommandLine(name, root, [path], extra=("--platform", "ptrace", "--network", "none"))
    return CommandLine(name, root, [path])
