"""Compiled filters loaded into a real process: every action, every operator, 64-bit values."""

import errno
import os
import signal

import pytest

from pybox.seccomp import compile_filter
from pybox import kernel
from tests.seccomp.sandbox import allow_all_but, getppid_with, run_filtered


def getpid():
    return kernel.syscall_nr(39)  # os.getpid() would hand back -errno as a pid


def rule(action="SCMP_ACT_ERRNO", names=("getppid",), **fields):
    return {"names": list(names), "action": action, **fields}


def run(profile, call=None):
    return run_filtered(compile_filter(profile, cache_dir=False), call or getppid_with())


def test_without_a_matching_rule_the_call_runs():
    assert run(allow_all_but(rule(names=["getpgid"]))) == ("ok", os.getpid())


@pytest.mark.parametrize("action, errno_ret, expected", [
    ("SCMP_ACT_ERRNO", None, ("errno", errno.EPERM)),
    ("SCMP_ACT_ERRNO", errno.EXDEV, ("errno", errno.EXDEV)),
    ("SCMP_ACT_ERRNO", 0, ("ok", 0)),  # errno 0: the call "succeeds" without running
    ("SCMP_ACT_TRACE", None, ("errno", errno.ENOSYS)),  # no tracer attached: the kernel says ENOSYS
    ("SCMP_ACT_KILL", None, ("signal", signal.SIGSYS)),
    ("SCMP_ACT_KILL_THREAD", None, ("signal", signal.SIGSYS)),
    ("SCMP_ACT_KILL_PROCESS", None, ("signal", signal.SIGSYS)),
    ("SCMP_ACT_TRAP", None, ("signal", signal.SIGSYS)),
    ("SCMP_ACT_LOG", None, ("ok", os.getpid())),
])
def test_every_action(action, errno_ret, expected):
    fields = {} if errno_ret is None else {"errnoRet": errno_ret}
    assert run(allow_all_but(rule(action, **fields))) == expected


def test_default_action_and_default_errno():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EROFS,
               "syscalls": [rule("SCMP_ACT_ALLOW", names=_PYTHON_NEEDS)]}
    assert run(profile, getpid) == ("errno", errno.EROFS)
    assert run(profile) == ("ok", os.getpid())


# Python's own needs between loading the filter and exiting, for profiles that refuse by default.
_PYTHON_NEEDS = ["getppid", "write", "read", "close", "exit", "exit_group", "brk", "mmap", "munmap",
                 "mprotect", "madvise", "rt_sigaction", "rt_sigprocmask", "futex"]


def test_syscalls_newer_than_the_profile_get_enosys():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule("SCMP_ACT_ALLOW", names=_PYTHON_NEEDS)]}
    assert run(profile, getpid) == ("errno", errno.EPERM)  # older than the newest named
    pidfd_open = 434
    assert run(profile, lambda: kernel.syscall_nr(pidfd_open, os.getpid(), 0)) \
        == ("errno", errno.ENOSYS)


U64 = (1 << 64) - 1
HIGH = 0x1_0000_0000


@pytest.mark.parametrize("op, value, value_two, arg, matches", [
    ("SCMP_CMP_EQ", 7, 0, 7, True), ("SCMP_CMP_EQ", 7, 0, 8, False),
    ("SCMP_CMP_NE", 7, 0, 8, True), ("SCMP_CMP_NE", 7, 0, 7, False),
    ("SCMP_CMP_LT", 7, 0, 6, True), ("SCMP_CMP_LT", 7, 0, 7, False),
    ("SCMP_CMP_LE", 7, 0, 7, True), ("SCMP_CMP_LE", 7, 0, 8, False),
    ("SCMP_CMP_GT", 7, 0, 8, True), ("SCMP_CMP_GT", 7, 0, 7, False),
    ("SCMP_CMP_GE", 7, 0, 7, True), ("SCMP_CMP_GE", 7, 0, 6, False),
    ("SCMP_CMP_MASKED_EQ", 0xF0, 0x30, 0x35, True), ("SCMP_CMP_MASKED_EQ", 0xF0, 0x30, 0x45, False),
    # 64-bit values: both halves of the argument count.
    ("SCMP_CMP_EQ", HIGH | 5, 0, HIGH | 5, True), ("SCMP_CMP_EQ", HIGH | 5, 0, 5, False),
    ("SCMP_CMP_GT", 0xFFFFFFFF, 0, HIGH, True), ("SCMP_CMP_LT", HIGH, 0, 0xFFFFFFFF, True),
    ("SCMP_CMP_GE", HIGH | 1, 0, HIGH, False), ("SCMP_CMP_EQ", U64, 0, U64, True),
    ("SCMP_CMP_NE", U64, 0, U64 >> 1, True),
    ("SCMP_CMP_MASKED_EQ", 0xFFFF << 48, 0xABCD << 48, (0xABCD << 48) | 0x1234, True),
    ("SCMP_CMP_MASKED_EQ", 0xFFFF << 48, 0xABCD << 48, 0xABCD, False),
])
def test_every_operator(op, value, value_two, arg, matches):
    cond = {"index": 2, "value": value, "valueTwo": value_two, "op": op}
    result = run(allow_all_but(rule(errnoRet=errno.EXDEV, args=[cond])), getppid_with(0, 0, arg))
    assert result == (("errno", errno.EXDEV) if matches else ("ok", os.getpid()))


def test_conditions_on_different_arguments_must_all_hold():
    conds = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 5, "value": 2, "op": "SCMP_CMP_EQ"}]
    profile = allow_all_but(rule(errnoRet=errno.EXDEV, args=conds))
    assert run(profile, getppid_with(1, 0, 0, 0, 0, 2)) == ("errno", errno.EXDEV)
    assert run(profile, getppid_with(1, 0, 0, 0, 0, 3)) == ("ok", os.getpid())


def test_conditions_on_the_same_argument_match_any():
    conds = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]
    profile = allow_all_but(rule(errnoRet=errno.EXDEV, args=conds))
    assert run(profile, getppid_with(2)) == ("errno", errno.EXDEV)
    assert run(profile, getppid_with(3)) == ("ok", os.getpid())


def test_first_matching_action_by_precedence():
    # The kernel and libseccomp order actions by strictness: ERRNO beats ALLOW for the same call.
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        rule("SCMP_ACT_LOG", args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]),
        rule(errnoRet=errno.EXDEV, args=[{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}])]}
    assert run(profile, getppid_with(1, 1)) == ("errno", errno.EXDEV)


def test_unknown_syscall_names_are_skipped_not_fatal():
    filt = compile_filter(allow_all_but(rule(names=["no_such_call", "getppid"])), cache_dir=False)
    assert filt.skipped == ["no_such_call"]
    assert run_filtered(filt, getppid_with()) == ("errno", errno.EPERM)


def test_flags_reach_seccomp():
    profile = allow_all_but(rule(), flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    filt = compile_filter(profile, cache_dir=False)
    assert filt.flags == 2 | 4 and not filt.notify
    assert run_filtered(filt, getppid_with()) == ("errno", errno.EPERM)

