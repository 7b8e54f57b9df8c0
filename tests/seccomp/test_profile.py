"""Profile validation: every bad field gets one line naming its JSON path."""

import pytest

from pybox.errors import PyboxError
from pybox.seccomp import compile_filter
from pybox.seccomp.profile import validate

GOOD_RULE = {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}


def profile(**changes):
    base = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [dict(GOOD_RULE)]}
    base.update(changes)
    return base


@pytest.mark.parametrize("bad, message", [
    ([], "linux.seccomp: must be an object, not a list"),
    ({}, "linux.seccomp.defaultAction: missing"),
    (profile(defaultAction="SCMP_ACT_FOO"), "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_FOO'"),
    (profile(defaultAction="SCMP_ACT_NOTIFY"), "SCMP_ACT_NOTIFY cannot be the default action"),
    (profile(defaultErrnoRet=1), "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE"),
    (profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=-1), "defaultErrnoRet: -1 is out of range"),
    (profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet="1"), "defaultErrnoRet: must be an integer"),
    (profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=True), "defaultErrnoRet: must be an integer"),
    (profile(architectures="SCMP_ARCH_X86"), "linux.seccomp.architectures: must be a list"),
    (profile(architectures=["SCMP_ARCH_X86", "x86"]), "linux.seccomp.architectures[1]: unknown architecture 'x86'"),
    (profile(flags=["SECCOMP_FILTER_FLAG_NOPE"]), "linux.seccomp.flags[0]: unknown flag"),
    (profile(listenerPath=5), "linux.seccomp.listenerPath: must be a string"),
    (profile(defaultActoin="SCMP_ACT_ALLOW"), "linux.seccomp.defaultActoin: unknown field"),
    (profile(syscalls={}), "linux.seccomp.syscalls: must be a list"),
    (profile(syscalls=[GOOD_RULE, "read"]), "linux.seccomp.syscalls[1]: must be an object, not a string"),
    (profile(syscalls=[{"action": "SCMP_ACT_ERRNO"}]), "syscalls[0].names: must be a non-empty list"),
    (profile(syscalls=[{"names": [], "action": "SCMP_ACT_ERRNO"}]), "syscalls[0].names: must be a non-empty"),
    (profile(syscalls=[{"names": ["read", 3], "action": "SCMP_ACT_ERRNO"}]), "syscalls[0].names[1]: must be a syscall name"),
    (profile(syscalls=[GOOD_RULE, GOOD_RULE, GOOD_RULE, {"names": ["read"], "action": "SCMP_ACT_FOO"}]),
     "linux.seccomp.syscalls[3].action: unknown action 'SCMP_ACT_FOO'"),
    (profile(syscalls=[{"names": ["read"]}]), "syscalls[0].action: missing"),
    (profile(syscalls=[{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]), "syscalls[0].errnoRet: only"),
    (profile(syscalls=[{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]), "errnoRet: 70000 is out of range 0..4094"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]),
     "syscalls[0].args[0].index: 6 is out of range 0..5"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"index": 0, "value": 1 << 64, "op": "SCMP_CMP_EQ"}]}]),
     "args[0].value: 18446744073709551616 is out of range"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]), "args[0].value: -1"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]),
     "syscalls[0].args[0].op: unknown operator 'SCMP_CMP_XX'"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]), "args[0].value: missing"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"value": 0, "op": "SCMP_CMP_EQ"}]}]), "args[0].index: missing"),
    (profile(syscalls=[{**GOOD_RULE, "args": [{"index": 0, "value": 1, "valuetwo": 2, "op": "SCMP_CMP_EQ"}]}]),
     "args[0].valuetwo: unknown field"),
    (profile(syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]), "listenerPath: required when syscalls[0]"),
    (profile(listenerPath="/l", syscalls=[{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]),
     "SCMP_ACT_NOTIFY cannot be used for 'write'"),
])
def test_bad_profiles_name_the_field(bad, message):
    with pytest.raises(PyboxError) as caught:
        compile_filter(bad, cache_dir=False)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_normal_form_fills_defaults():
    normal = validate(profile(defaultAction="SCMP_ACT_ERRNO", syscalls=[
        {"names": ["read"], "action": "SCMP_ACT_TRACE", "args": [{"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}]))
    assert normal["defaultErrnoRet"] == 1 and normal["architectures"] == [] and normal["flags"] == []
    assert normal["syscalls"][0]["errnoRet"] == 1
    assert normal["syscalls"][0]["args"][0]["valueTwo"] == 0


def test_error_names_the_callers_path():
    with pytest.raises(PyboxError, match=r"^profile.json.defaultAction: missing$"):
        validate({}, "profile.json")


def test_an_arch_of_the_other_byte_order_is_one_line_naming_the_field():
    """libseccomp refuses (EDOM) to mix big- and little-endian arches in one filter; found by
    test_properties. The error names the field, as every other profile error does."""
    with pytest.raises(PyboxError) as err:
        compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_S390X"],
                        "syscalls": []}, cache_dir=False)
    assert str(err.value).startswith("linux.seccomp.architectures: SCMP_ARCH_S390X: ")
    assert "\n" not in str(err.value)
