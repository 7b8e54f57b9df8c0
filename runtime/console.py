"""Terminals: the container's pty, sent over the console socket, and the foreground proxy."""

import errno
import fcntl
import os
import struct

from pybox.errors import PyboxError

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413

def open_container_pty(console_fd, size, dev_console):
    """A pty from the container's devpts; the master goes to the console socket.

    dev_console: bind the pty over /dev/console. Only the init's, as with runc: a process started
    by `exec` has its pty as stdio and nothing else (each exec -t would otherwise stack one more
    mount over /dev/console, left pointing at a pty that is gone).
    """
    from pybox import kernel as k
    from pybox.runtime.sync import send_fd
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    slave_path = f"/dev/pts/{number}"
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    if size:  # process.consoleSize, a view.View
        set_size(slave, size.height or 0, size.width or 0)
    if dev_console:
        _bind_console(k, slave_path)
    send_fd(console_fd, master)
    os.close(master)
    os.close(console_fd)
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _bind_console(k, slave_path):
    """The init's pty over /dev/console (runc's mountConsole), the node made first if missing."""
    if not os.path.exists("/dev/console"):
        try:
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        except OSError as err:
            if err.errno == errno.EROFS:
                return  # a read-only /dev without a console node: the pty still works
            raise PyboxError(f"terminal: create /dev/console: {err.strerror}") from None
    try:
        k.mount(slave_path, "/dev/console", None, k.MS_BIND)
    except OSError as err:
        raise PyboxError(f"terminal: bind {slave_path} over /dev/console: {err.strerror}") from None


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd):
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def listen_socket_pair():
    """A connected pair standing in for --console-socket when pybox itself holds the terminal."""
    import _socket
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)


def proxy(master, child_alive, tee=None):
    """Copy the user's terminal to the container's pty and back, in raw mode, until it ends;
    tee(data), if given, gets the container's output too (the engine's log)."""
    import select
    import signal
    import termios
    import tty
    stdin = 0
    interactive = os.isatty(stdin)
    saved = termios.tcgetattr(stdin) if interactive else None

    def resize(*_):
        try:
            set_size(master, *get_size(stdin))
        except OSError:
            pass

    if interactive:
        tty.setraw(stdin)
        resize()
        signal.signal(signal.SIGWINCH, resize)
    try:
        _copy_loop(master, stdin, select, child_alive, tee)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)


def _copy_loop(master, stdin, select, child_alive, tee):
    inputs = [master, stdin]
    while child_alive() or inputs:
        try:
            ready, _, _ = select.select(inputs, [], [], 0.2)
        except InterruptedError:
            continue
        if not ready and not child_alive():
            _drain(master, tee)
            return
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                return
            os.write(1, data)
            if tee:
                tee(data)
        if stdin in ready:
            data = os.read(stdin, 65536)
            if data:
                os.write(master, data)
            else:
                inputs.remove(stdin)


def _drain(master, tee):
    os.set_blocking(master, False)
    try:
        while True:
            data = os.read(master, 65536)
            if not data:
                return
            os.write(1, data)
            if tee:
                tee(data)
    except OSError:
        return


def require_socket(path):
    if not path:
        raise PyboxError("process.terminal is true: give --console-socket (or use `run` in the foreground)")
