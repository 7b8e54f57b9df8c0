"""SCMP_ACT_NOTIFY: the listener fd goes to listenerPath with the container state, as runtime-spec says."""

import errno
import fcntl
import json
import os
import socket
import struct

import pytest

from pybox.errors import PyboxError
from pybox.seccomp import compile_filter, send_listener
from tests.seccomp.sandbox import GETPPID, allow_all_but, getppid_with, run_filtered

NOTIF_RECV = 0xC0502100  # SECCOMP_IOCTL_NOTIF_RECV: _IOWR('!', 0, struct seccomp_notif)
NOTIF_SEND = 0xC0182101  # SECCOMP_IOCTL_NOTIF_SEND: _IOWR('!', 1, struct seccomp_notif_resp)


def profile(path):
    return allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"},
                         listenerPath=path, listenerMetadata="answer=EXDEV")


def test_listener_gets_state_and_fd_and_answers_the_call(tmp_path):
    path = str(tmp_path / "listener.sock")
    filt = compile_filter(profile(path), cache_dir=False)
    assert filt.notify and filt.flags & 8 and filt.listener_path == path
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        state = {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 0, "bundle": "/b"}
        forwarded = {}

        def hand_over(fd):
            # In the child: what the container init does, but straight to the listener.
            state["pid"] = os.getpid()
            send_listener(filt, fd, state)
            os.close(fd)

        pid = os.fork()
        if pid == 0:
            run_and_report(filt, hand_over)
        conn, _ = listener.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        forwarded.update(json.loads(msg))
        answer(fds[0], errno.EXDEV)
        os.close(fds[0])
        _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == errno.EXDEV
    assert forwarded["fds"] == ["seccompFd"] and forwarded["metadata"] == "answer=EXDEV"
    assert forwarded["pid"] == pid and forwarded["state"]["id"] == "c1"


def run_and_report(filt, before):
    """Exit status = the errno getppid returned under the filter (0 when it ran)."""
    result = run_in_this_child(filt, before)
    os._exit(result)


def run_in_this_child(filt, before):
    from pybox import kernel
    from pybox.seccomp import install
    try:
        kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
        before(install(filt))
        kernel.syscall_nr(GETPPID)
        return 0
    except OSError as err:
        return err.errno
    except BaseException:
        return 99


def answer(fd, err):
    notif = bytearray(80)
    fcntl.ioctl(fd, NOTIF_RECV, notif, True)
    notif_id, _pid, _flags, nr = struct.unpack_from("=QIIi", notif)
    assert nr == GETPPID
    fcntl.ioctl(fd, NOTIF_SEND, bytearray(struct.pack("=QqiI", notif_id, 0, -err, 0)), True)


def test_no_listener_is_a_clear_error(tmp_path):
    filt = compile_filter(profile(str(tmp_path / "absent.sock")), cache_dir=False)
    with pytest.raises(PyboxError, match="absent.sock"):
        send_listener(filt, 0, {"pid": 1})


def test_install_returns_no_fd_without_notify():
    filt = compile_filter(allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}), cache_dir=False)

    def no_fd(fd):
        if fd is not None:
            raise SystemExit(f"install returned fd {fd}")
    assert run_filtered(filt, getppid_with(), before=no_fd) == ("errno", errno.EPERM)
