"""sd_notify from inside the container, passed on to the host (runc's NOTIFY_SOCKET support).

Under a systemd unit of Type=notify, or podman's --sdnotify=container, the runtime finds the
host's notification socket in NOTIFY_SOCKET (pybox also takes --notify-socket on create and
run). As runc does:
- create makes <root>/<id>/notify/, binds it read-only at /run/notify in the container, and
  gives the container's process NOTIFY_SOCKET=/run/notify/notify.sock;
- start (or run) listens on that socket before it lets the process run, and when a datagram
  says READY=..., sends the host that line, MAINPID=<the init's host pid>, and BARRIER=1 with a
  pipe the host closes to acknowledge. It returns early if the container exits first.
"""

import _socket
import os
import time

from pybox.errors import PyboxError

DIRECTORY = "notify"
IN_CONTAINER = "/run/notify/notify.sock"
BARRIER_TIMEOUT = 30.0  # seconds, as runc: a host that ignores BARRIER=1 is not waited for longer


def host_socket(flag_value=None):
    """The host's notification socket: the --notify-socket value, else $NOTIFY_SOCKET."""
    return flag_value or os.environ.get("NOTIFY_SOCKET") or None


def prepare(config, state_dir):
    """At create: the directory the socket will appear in, mounted into the container."""
    directory = os.path.join(state_dir, DIRECTORY)
    os.mkdir(directory, 0o755)
    config.setdefault("mounts", []).append({
        "destination": os.path.dirname(IN_CONTAINER), "type": "bind", "source": directory,
        "options": ["bind", "nosuid", "noexec", "nodev", "ro"]})
    process = config["process"]
    process["env"] = [e for e in process.get("env") or [] if not e.startswith("NOTIFY_SOCKET=")]
    process["env"].append(f"NOTIFY_SOCKET={IN_CONTAINER}")


class Listener:
    """The container-side socket, bound before the container's process may run."""

    def __init__(self, state_dir, host):
        self.host = host
        self.path = os.path.join(state_dir, DIRECTORY, os.path.basename(IN_CONTAINER))
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        try:
            try:
                os.unlink(self.path)  # left by an earlier start that was killed
            except FileNotFoundError:
                pass
            self.sock.bind(self.path)
            os.chmod(self.path, 0o777)  # the container's process may run as any user
        except OSError as err:
            self.sock.close()
            raise PyboxError(f"notify socket {self.path}: {err.strerror or err}") from None

    def close(self):
        self.sock.close()

    def pass_on_ready(self, pid, alive):
        """Wait until the container says READY=... (then tell the host) or until alive() fails."""
        self.sock.settimeout(0.1)
        while alive():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            ready = next((line for line in data.split(b"\n") if line.startswith(b"READY=")), None)
            if ready is not None:
                _tell_host(self.host, ready, pid)
                return


def _tell_host(host, ready, pid):
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        client.connect("\0" + host[1:] if host.startswith("@") else host)
        client.send(ready + b"\n")
        client.send(f"MAINPID={pid}\n".encode())
        _barrier(client)
    except OSError as err:
        raise PyboxError(f"notify socket {host}: {err.strerror or err}") from None
    finally:
        client.close()


def _barrier(client):
    """sd_notify_barrier: send BARRIER=1 with a pipe's write end; the host closes it once it has
    read everything before it."""
    from pybox.runtime.sync import send_fd
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        send_fd(client.fileno(), write_end, b"BARRIER=1")
        os.close(write_end)
        write_end = None
        _wait_closed(read_end, BARRIER_TIMEOUT)
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


def _wait_closed(fd, timeout):
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not os.read(fd, 1):
                return
        except BlockingIOError:
            time.sleep(0.01)
