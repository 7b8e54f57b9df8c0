"""Seccomp in real containers: Docker's default profile, kill actions and errnoRet, seen from inside."""

import errno
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading

import pytest

from pybox.seccomp import default_profile

# x86_64 numbers: the helper makes raw syscalls, so libc wrappers cannot hide what the kernel said.
NR = {"getpid": 39, "getppid": 110, "mount": 165, "unshare": 272, "keyctl": 250, "add_key": 248,
      "bpf": 321, "perf_event_open": 298, "kexec_load": 246, "open_by_handle_at": 304}

HELPER_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
/* sys NR [ARGS...]: make one raw syscall, print "ok RESULT" or "errno N". */
int main(int argc, char **argv) {
    long a[6] = {0};
    for (int i = 2; i < argc && i < 8; i++) a[i - 2] = strtoul(argv[i], 0, 0);
    long r = syscall(strtol(argv[1], 0, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
    if (r < 0) printf("errno %d\n", errno); else printf("ok %ld\n", r);
    return 0;
}
"""

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")


@pytest.fixture(scope="session")
def syscall_helper(tmp_path_factory):
    gcc = shutil.which("gcc")
    if not gcc:
        pytest.skip("gcc is needed to build the static raw-syscall helper")
    src = tmp_path_factory.mktemp("helper") / "sys.c"
    src.write_text(HELPER_C)
    out = src.with_suffix("")
    result = subprocess.run([gcc, "-static", "-O2", "-o", str(out), str(src)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot build a static helper (no static libc?): {result.stderr.strip()[:200]}")
    return str(out)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBOX_SECCOMP_CACHE", str(tmp_path / "seccomp-cache"))


@pytest.fixture
def confined(bundle, syscall_helper):
    """The bundle with the helper at /bin/sys and Docker's default profile for its capabilities."""
    shutil.copy2(syscall_helper, os.path.join(bundle.rootfs, "bin/sys"))
    caps = bundle.config["process"]["capabilities"]["effective"]
    bundle.config["linux"]["seccomp"] = default_profile(caps)
    return bundle


def run(pybox, bundle, *args, check=True):
    bundle.args(*args)
    return pybox("run", "-b", bundle.path, "c1", check=check)


def test_default_profile_refuses_dangerous_calls(pybox, confined):
    script = "; ".join(f"echo {name} $(sys {nr})" for name, nr in NR.items() if name not in ("getpid", "getppid"))
    out = run(pybox, confined, "sh", "-c", script).stdout
    results = dict(line.split(" ", 1) for line in out.splitlines())
    assert results == {name: "errno 1" for name in NR if name not in ("getpid", "getppid")}


def test_the_same_calls_reach_the_kernel_without_a_profile(pybox, bundle, syscall_helper):
    # The control: unshare(0) is harmless and succeeds when no filter stands in the way.
    shutil.copy2(syscall_helper, os.path.join(bundle.rootfs, "bin/sys"))
    assert run(pybox, bundle, "sys", str(NR["unshare"]), "0").stdout == "ok 0\n"


def test_ordinary_work_succeeds_under_the_default_profile(pybox, confined):
    # The host's network namespace, so loopback is up; the pid namespace ends httpd with the container.
    namespaces = confined.config["linux"]["namespaces"]
    confined.config["linux"]["namespaces"] = [ns for ns in namespaces if ns["type"] != "network"]
    port = random.randint(20000, 60000)
    script = ("grep Seccomp: /proc/self/status; ls / > /dev/null && echo ls ok; ps > /dev/null && echo ps ok; "
              "date +%Y > /dev/null && echo date ok; mkdir /tmp/www && echo hello > /tmp/www/index.html; "
              f"httpd -p 127.0.0.1:{port} -h /tmp/www && sleep 0.2; wget -q -O- http://127.0.0.1:{port}/; "
              "(sleep 0.1 &) ; wait; echo done")
    out = run(pybox, confined, "sh", "-c", script).stdout
    assert out.splitlines() == ["Seccomp:\t2", "ls ok", "ps ok", "date ok", "hello", "done"]


def test_kill_on_getpid_ends_the_container_with_sigsys(pybox, confined):
    confined.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    result = run(pybox, confined, "sys", str(NR["getpid"]), check=False)
    assert result.returncode == 128 + signal.SIGSYS, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("errno_ret", [1, 13, 42, 4094])
def test_errno_ret_comes_back_as_given(pybox, confined, errno_ret):
    confined.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret,
                      "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]}
    script = f"sys {NR['getppid']} 7; sys {NR['getppid']} 8"
    assert run(pybox, confined, "sh", "-c", script).stdout.splitlines() == [f"errno {errno_ret}", "ok 0"]


def test_default_errno_and_enosys_for_newer_calls(pybox, confined):
    profile = confined.config["linux"]["seccomp"]
    profile["defaultErrnoRet"] = 13
    pidfd_getfd, future = 438, 470  # pidfd_getfd needs CAP_SYS_PTRACE; 470 is newer than the profile
    out = run(pybox, confined, "sh", "-c", f"sys {pidfd_getfd} 0 0 0; sys {future}").stdout
    assert out.splitlines() == ["errno 13", "errno 38"]


def test_a_repeat_start_loads_the_cached_program(pybox, confined, tmp_path):
    run(pybox, confined, "true")
    [entry] = os.listdir(tmp_path / "seccomp-cache")
    stamp = os.stat(tmp_path / "seccomp-cache" / entry).st_mtime_ns
    assert run(pybox, confined, "sh", "-c", f"sys {NR['mount']}").stdout == "errno 1\n"
    assert os.stat(tmp_path / "seccomp-cache" / entry).st_mtime_ns == stamp


def test_a_bad_profile_is_one_line_and_leaves_nothing(pybox, confined):
    confined.config["linux"]["seccomp"]["syscalls"][1]["action"] = "SCMP_ACT_FOO"
    result = run(pybox, confined, "true", check=False)
    assert result.returncode == 1
    assert "linux.seccomp.syscalls[1].action: unknown action 'SCMP_ACT_FOO'" in result.stderr
    assert result.stderr.count("\n") == 1
    assert pybox("list", "-q").stdout.strip() == ""


def test_notify_listener_answers_for_the_kernel(pybox, confined, tmp_path):
    from tests.seccomp.test_notify import answer
    path = str(tmp_path / "listener.sock")
    confined.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "test",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}
    seen = {}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(30)

        def serve():
            conn, _ = listener.accept()
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
            seen.update(json.loads(msg))
            answer(fds[0], errno.EXDEV)
            os.close(fds[0])
        server = threading.Thread(target=serve)
        server.start()
        out = run(pybox, confined, "sys", str(NR["getppid"])).stdout
        server.join(30)
    assert out == f"errno {errno.EXDEV}\n"
    assert seen["fds"] == ["seccompFd"] and seen["metadata"] == "test"
    assert seen["state"]["id"] == "c1" and seen["pid"] > 0
