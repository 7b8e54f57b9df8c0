"""User-mode networking for an ordinary user's containers: Debian's pasta (package passt).

pasta copies the host's addresses and routes into the container's network namespace (a tap
device) and carries its traffic through ordinary sockets of the host's: outbound connections,
and published ports (-t/-u HOST:CONTAINER) bound by pasta on the host. Run by the engine inside
the user's namespaces, as podman runs it. pasta drops every capability but a few before it opens
the namespace, so /proc/PID/ns/net of a container process (which has more) is out of its reach:
as podman does, the namespace is bound to a file first and pasta is given that file.

pasta puts itself in the background once the namespace is configured; its pid file and the
bound file are the container's, and stop() kills it (by that pid, checked to be pasta) and
unmounts the file.
"""

import os

from pybox import kernel as k
from pybox.errors import PyboxError

PASTA = "pasta"


def find():
    import shutil
    path = shutil.which(PASTA) or shutil.which(PASTA, path="/usr/bin:/usr/sbin:/bin:/sbin")
    if path is None:
        raise PyboxError("--network pasta: pasta is not installed (Debian's passt package)")
    return path


def port_options(ports):
    """The -t/-u options for (host_ip, host_port, container_port, proto) tuples; none else."""
    specs = {"tcp": [], "udp": []}
    for host_ip, host_port, container_port, proto in ports:
        address = "" if host_ip == "0.0.0.0" else f"{host_ip}/"
        specs[proto].append(f"{address}{host_port}:{container_port}")
    options = []
    for flag, proto in (("-t", "tcp"), ("-u", "udp")):
        for spec in specs[proto] or ["none"]:
            options += [flag, spec]
    return options + ["-T", "none", "-U", "none"]


def start(pid, bind_path, pid_file, ports=(), extra=()):
    """Connect the network namespace of process pid through a new pasta process."""
    import subprocess
    import tempfile
    binary = find()
    _bind(pid, bind_path)
    # As podman: the host's loopback is not reachable at the gateway address unless asked for
    # (--network pasta:--map-gw, podman's spelling; this pasta maps by default).
    gateway = [] if "--map-gw" in extra else ["--no-map-gw"]
    argv = [binary, "--config-net", "--quiet", *gateway, *port_options(ports),
            *[o for o in extra if o != "--map-gw"], "--pid", pid_file, "--netns", bind_path]
    try:
        with tempfile.TemporaryFile() as err:
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=err, timeout=20, start_new_session=True)
            except subprocess.TimeoutExpired:
                raise PyboxError("--network pasta: pasta did not configure the network in 20 s") from None
            if done.returncode != 0:
                err.seek(0)
                lines = [line for line in err.read().decode(errors="replace").splitlines()
                         if line.strip() and "syslog" not in line]
                raise PyboxError(f"--network pasta: pasta: {lines[0] if lines else f'exit status {done.returncode}'}")
    except BaseException:
        stop(bind_path, pid_file)
        raise


def _bind(pid, bind_path):
    try:
        with open(bind_path, "x"):
            pass
    except FileExistsError:
        pass
    try:
        k.mount(f"/proc/{pid}/ns/net", bind_path, None, k.MS_BIND)
    except OSError as err:
        _unlink(bind_path)
        raise PyboxError(f"--network pasta: binding the network namespace to {bind_path}: "
                         f"{err.strerror}") from None


def stop(bind_path, pid_file):
    """Kill the pasta process and unbind the namespace; fine to call twice, or after a crash."""
    import signal
    import time
    pid = _pasta_pid(pid_file)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid = None
        deadline = time.monotonic() + 5
        while pid is not None and _is_pasta(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    _unlink(pid_file)
    while True:
        try:
            k.umount2(bind_path, k.MNT_DETACH)
        except OSError:
            break
    _unlink(bind_path)


def _pasta_pid(pid_file):
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _is_pasta(pid) else None


def _is_pasta(pid):
    """pid is a live pasta (not a reused pid, nor a zombie); pasta execs passt.avx2 where it can."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            name = f.read().strip()
        with open(f"/proc/{pid}/status") as f:
            state = next(line.split()[1] for line in f if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return False
    return name in ("pasta", "pasta.avx2", "passt", "passt.avx2") and state != "Z"


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
