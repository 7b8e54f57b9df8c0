"""`pybox run -it` and `pybox exec -it` through a real pty: prompt, typing, window size, exit."""

import fcntl
import os
import pty
import select
import struct
import termios
import time

from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)


class Terminal:
    """A program on the slave side of a new pty; we are the person at the keyboard."""

    def __init__(self, argv, env, rows=30, cols=100):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.resize(rows, cols)
        self.seen = b""

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text):
        os.write(self.fd, text.encode())

    def expect(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; saw {self.seen!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text.encode() in self.seen, self.seen
        return self.seen.decode(errors="replace")

    def exit_status(self, timeout=10):
        """The program's exit status; it is killed when it outlives the deadline (every read
        waits in select, so a program that neither prints nor exits cannot hang the test)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    time.sleep(0.02)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"the program did not exit; saw {self.seen!r}")


def test_run_it_gives_a_shell_that_follows_the_window(docker):
    term = Terminal(docker.argv("run", "-it", "--rm", "--network", "none", "busybox", "sh"), docker.env)
    term.expect("# ")
    term.type("stty size; tty\r")
    term.expect("30 100")
    term.expect("/dev/pts/0")
    term.resize(40, 120)
    time.sleep(0.3)
    term.type("stty size\r")
    term.expect("40 120")
    term.type("exit 3\r")
    assert term.exit_status() == 3
    assert docker.out("ps", "-a", "-q") == ""


def test_ctrl_c_reaches_the_program_in_the_container(docker):
    term = Terminal(docker.argv("run", "-it", "--rm", "--network", "none", "busybox", "sh"), docker.env)
    term.expect("# ")
    term.type("sleep 30\r")
    time.sleep(0.5)
    term.type("\x03")  # raw mode: the container's terminal turns it into SIGINT
    term.type("echo interrupted\r")
    term.expect("interrupted\r\n")
    term.type("exit\r")
    assert term.exit_status() == 0


def test_exec_it_into_a_running_container(docker):
    docker("run", "-d", "--name", "host1", "--network", "none", "busybox", "sleep", "60")
    term = Terminal(docker.argv("exec", "-it", "host1", "sh"), docker.env, rows=25, cols=81)
    term.expect("# ")
    term.type("stty size; ps | grep -c 'sleep 60'\r")
    term.expect("25 81")
    term.type("exit 2\r")
    assert term.exit_status() == 2
