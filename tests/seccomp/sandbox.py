"""Run a function in a forked child under a seccomp filter; report what the kernel did."""

import ast
import os
import resource

from pybox import kernel
from pybox.seccomp import install

GETPPID = 110  # x86_64: Python itself never calls it after fork, and it ignores its arguments


def run_filtered(filt, call, before=None):
    """('ok', value) | ('errno', n) | ('signal', n) | ('fd', listener fd result) for call() in a child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(filt, call, before, r, w)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return ("signal", os.WTERMSIG(status))
    return ast.literal_eval(data.decode())


def _child(filt, call, before, r, w):
    try:
        os.close(r)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS would otherwise dump core
        kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
        fd = install(filt)
        if before:
            before(fd)
        try:
            result = ("ok", call())
        except OSError as err:
            result = ("errno", err.errno)
        os.write(w, repr(result).encode())
    finally:
        os._exit(0)


def getppid_with(*args):
    return lambda: kernel.syscall_nr(GETPPID, *args)


def allow_all_but(*rules, **top):
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **top}
