"""pybox attach [--detach-keys KEYS] [--no-stdin] CONTAINER: connect this terminal to a running
container's (detached with -dit, or -d): its output here, what is typed to it.

Through conmon's attach socket (podman's protocol): a SOCK_SEQPACKET socket in the bundle; each
packet from conmon is one byte naming the stream (2 stdout, 3 stderr) and the data; what we send
is the container's input. A resize goes to conmon's winsz fifo as "1 ROWS COLS". The detach keys
(default Ctrl-P Ctrl-Q, docker's) leave the container running; else attach ends when the
container does, with its exit status.
"""

import os

from pybox.args import Parser
from pybox.errors import PyboxError

parser = Parser("attach", [
    "--detach-keys = # keys that detach, docker's form: ctrl-p,ctrl-q (the default)",
    "--no-stdin # do not send what is typed to the container",
    "--sig-proxy # (accepted; signals from this terminal reach the container through it)",
], positionals=["container"], usage="attach [--detach-keys KEYS] [--no-stdin] CONTAINER",
    description="Attach to a running container's terminal or output; Ctrl-P Ctrl-Q detaches.")
STDOUT, STDERR = 2, 3
PACKET = 8192 + 1


def detach_sequence(text):
    """docker's --detach-keys: comma-separated keys, each a letter or ctrl-LETTER (ctrl-@ .. ctrl-_)."""
    keys = b""
    for key in text.split(","):
        key = key.strip()
        if len(key) == 1:
            keys += key.encode()
        elif key.lower().startswith("ctrl-") and len(key) == 6 and 64 <= ord(key[5].upper()) <= 95:
            keys += bytes([ord(key[5].upper()) - 64])
        else:
            raise PyboxError(f"attach --detach-keys {text!r}: expected keys like ctrl-p,ctrl-q")
    return keys


def main(g, argv):
    from pybox.engine.each import one
    from pybox.engine.lifecycle import reachable_root, status_of
    _, v = parser.parse(argv)
    keys = detach_sequence(v["detach_keys"] or "ctrl-p,ctrl-q")
    _, box = one(v["container"])
    root = reachable_root(g.root, box)
    if status_of(root, box) != "running":
        raise PyboxError(f"attach {box.name}: the container is not running (start it first)")
    return session(root, box, connect(box), keys, stdin=not v["no_stdin"])


def session(root, box, sock, keys, stdin):
    """Copy both ways until the detach keys (0) or the container's end (its exit status)."""
    try:
        detached = Session(box, sock, keys, stdin=stdin).run()
    finally:
        sock.close()
    if detached:
        return 0
    from pybox.engine.lifecycle import wait_exit_code
    code = wait_exit_code(root, box, timeout=10)
    return 0 if code is None else code


def connect(box):
    import socket
    parent = os.open(box.bundle, os.O_PATH | os.O_CLOEXEC)  # a socket path is at most 107 bytes
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{parent}/attach")
        except OSError as err:
            sock.close()
            raise PyboxError(f"attach {box.name}: conmon's attach socket: {err.strerror}") from None
    finally:
        os.close(parent)
    return sock


class Session:
    def __init__(self, box, sock, keys, stdin=True):
        self.box, self.sock, self.keys, self.stdin = box, sock, keys, stdin
        self.held = b""  # typed keys that may be the start of the detach sequence

    def run(self):
        """Copy both ways; True when the detach keys were typed, False when the container ended."""
        import signal
        import termios
        import tty
        saved = None
        if self.stdin and os.isatty(0):
            saved = termios.tcgetattr(0)
            tty.setraw(0)
        old_winch = None
        if self.box.data.get("tty") and os.isatty(0):
            self.resize()
            old_winch = signal.signal(signal.SIGWINCH, lambda *_: self.resize())
        try:
            return self._loop()
        finally:
            if saved is not None:
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
            if old_winch is not None:
                signal.signal(signal.SIGWINCH, old_winch)

    def resize(self):
        import fcntl
        import struct
        import termios
        try:
            rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
            fd = os.open(self.box.path("winsz"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.write(fd, f"1 {rows} {cols}\n".encode())
        except OSError:
            pass
        finally:
            os.close(fd)

    def _loop(self):
        import select
        watch = [self.sock.fileno()] + ([0] if self.stdin else [])
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if self.sock.fileno() in ready:
                data = self.sock.recv(PACKET)
                if not data:
                    return False
                os.write(2 if data[0] == STDERR else 1, data[1:])
            if 0 in ready:
                typed = os.read(0, 4096)
                if not typed:
                    watch.remove(0)
                    self.sock.shutdown(1)  # SHUT_WR: the container's stdin ends
                    continue
                if self._forward(typed):
                    return True

    def _forward(self, typed):
        """Send typed keys, holding back a possible start of the detach sequence; True to detach."""
        out = b""
        for byte in typed:
            self.held += bytes([byte])
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    self._send(out)
                    return True
                continue
            out += self.held
            self.held = b""
        self._send(out)
        return False

    def _send(self, data):
        if data:
            try:
                self.sock.sendall(data)
            except OSError:
                pass
