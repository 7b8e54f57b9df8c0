"""Pieces of how the container's process is started, each in a child process of its own."""

import os
import subprocess
import sys

import pytest

IMPORT = "import os; from pybox.runtime.init.process import home_of"  # before the chroot
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbad line\nnohome:x:7:7::\n"


def in_child(code, *, pass_fds=(), timeout=30):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          pass_fds=pass_fds)


def test_default_signals_undoes_what_python_did():
    out = in_child("import signal\n"
                   "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
                   "signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as a caller's would be\n"
                   "from pybox.runtime.init.process import default_signals\n"
                   "default_signals()\n"
                   "print(open('/proc/self/status').read())").stdout
    status = dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
    assert int(status["SigBlk"], 16) == 0
    assert int(status["SigIgn"], 16) == 1 << (1 - 1)  # SIGHUP only: no SIGPIPE, no SIGXFSZ


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@pytest.mark.parametrize("uid,home", [(0, "/root"), (1000, "/home/app"), (7, "/"), (4242, "/")])
def test_home_of_reads_the_passwd_of_the_root_it_is_in(tmp_path, uid, home):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    out = in_child(f"{IMPORT}; os.chroot({str(tmp_path)!r}); print(home_of({uid}))")
    assert out.stdout == home + "\n", out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_home_of_does_not_wait_on_a_fifo(tmp_path):
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc/passwd")
    out = in_child(f"{IMPORT}; os.chroot({str(tmp_path)!r}); print(home_of(0))", timeout=10)
    assert out.stdout == "/\n", out.stderr


CHECK = "from pybox.runtime.launch import check_preserved_fds\ncheck_preserved_fds({})\nprint('ok')"


def test_preserved_fds_must_have_been_given(tmp_path):
    with open(tmp_path / "f", "w") as f:
        fd = os.dup(f.fileno())  # lands at some number; the child gets it passed at the same number
        try:
            n = fd - 2
            given = in_child(CHECK.format(n), pass_fds=list(range(3, fd + 1)) if fd >= 3 else ())
            beyond = in_child(CHECK.format(n + 1), pass_fds=list(range(3, fd + 1)))
        finally:
            os.close(fd)
    assert given.stdout == "ok\n", given.stderr
    assert f"fd {fd + 1}" in beyond.stderr and "ok" not in beyond.stdout


def test_the_runtimes_own_fds_are_not_preserved():
    out = in_child("import os\nfd = os.open('/', os.O_RDONLY)  # close-on-exec, as all of pybox's\n"
                   + CHECK.format("fd - 2"))
    assert "was not passed to pybox" in out.stderr
