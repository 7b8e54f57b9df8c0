"""The parent/init conversation, over a SOCK_SEQPACKET socket pair.

Each message is a tag, a space and a JSON payload, optionally with one fd (SCM_RIGHTS).
`_socket` is used directly: `socket` costs about 7 ms to import on every create.

 from            tag            payload / meaning
 intermediate →  userns         it unshared a user namespace; the parent writes uid/gid maps
 parent       →  userns-ok
 intermediate →  pid            {"pid": host pid of the container init} (a directly forked
                                init sends none: the parent has its pid from fork)
 parent       →  go             the pid is recorded; payload: {"state": for hooks,
                                "cgroup_plan": how to mount the cgroup}. The init mounts its
                                root first, then waits for this
 init         →  hooks          mounts are done, before pivot_root: run prestart/createRuntime
 parent       →  hooks-ok
 init         →  cgroup         set-up is done: put me in the container's cgroup now (late, so
                                the runtime's own Python memory is not charged to the container)
 parent       →  cgroup-ok
 init         →  seccomp        the NOTIFY listener fd (with fd)
 init         →  warning        {"message": ...}: something skipped (runc logs these); go on
 init         →  ready          everything before exec is done; create may return
 any          →  error          {"message": ...}: the step failed; the sender exits
"""

import _socket
import os
import sys

from pybox import jsonio
from pybox.errors import PyboxError

_FD_SPACE = _socket.CMSG_SPACE(4)


def _fd_bytes(fd):
    # A C int in SCM_RIGHTS; `array` would import collections (about 2 ms) for this.
    return fd.to_bytes(4, sys.byteorder, signed=True)


def _fd_from(raw):
    return int.from_bytes(raw[:4], sys.byteorder, signed=True)


class Channel:
    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def pair(cls):
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def send(self, tag, payload=None, fd=None):
        data = tag.encode() + b" " + jsonio.dumps(payload).encode()
        if fd is None:
            self.sock.send(data)
        else:
            self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fd_bytes(fd))])

    def receive(self):
        """Return (tag, payload, fd or None); ("eof", None, None) when the other side is gone."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, _FD_SPACE)
        except ConnectionResetError:
            # The other side exited with a message of ours unread. The kernel reports that
            # first, once; what it sent before exiting is still queued behind it.
            data, ancillary, _, _ = self.sock.recvmsg(65536, _FD_SPACE)
        if not data:
            return "eof", None, None
        fd = None
        for level, kind, raw in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fd = _fd_from(raw)
        tag, _, payload = data.partition(b" ")
        return tag.decode(), jsonio.loads(payload), fd

    def expect(self, wanted):
        """Receive one message; a different tag is an error, an error message is raised."""
        tag, payload, fd = self.receive()
        if tag == "error":
            raise PyboxError(payload["message"])
        if tag != wanted:
            raise PyboxError(f"container init: expected {wanted!r}, got {tag!r}"
                             + (" (the init exited)" if tag == "eof" else ""))
        return payload, fd

    def fail(self, message):
        try:
            self.send("error", {"message": message})
        except OSError:
            pass


def send_fd(sock_fd, fd, text=b"console"):
    """Send fd over the connected unix socket sock_fd (the --console-socket protocol)."""
    sock = _socket.socket(fileno=os.dup(sock_fd))
    try:
        sock.sendmsg([text], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fd_bytes(fd))])
    finally:
        sock.close()


def receive_fd(sock):
    data, ancillary, _, _ = sock.recvmsg(4096, _FD_SPACE)
    for level, kind, raw in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            return _fd_from(raw)
    raise PyboxError("console socket: no file descriptor received")


def connect_unix(path):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        raise PyboxError(f"console socket {path}: {err.strerror}") from None
    return sock
