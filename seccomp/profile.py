"""The OCI seccomp object (runtime-spec config-linux.md#seccomp): validation and normal form.

validate() checks every field once, before any fork, and raises a PyboxError naming the JSON
path of the first bad field ("linux.seccomp.syscalls[3].action: unknown action 'SCMP_ACT_FOO'").
It returns the profile in a normal form the compiler can trust: every optional field present.
"""

from pybox.errors import PyboxError
from pybox.seccomp import bpf
from pybox.seccomp.filter import FLAGS

ACTIONS = {
    "SCMP_ACT_KILL": bpf.RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": bpf.RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": bpf.RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": bpf.RET_TRAP,
    "SCMP_ACT_ERRNO": bpf.RET_ERRNO,
    "SCMP_ACT_TRACE": bpf.RET_TRACE,
    "SCMP_ACT_ALLOW": bpf.RET_ALLOW,
    "SCMP_ACT_LOG": bpf.RET_LOG,
    "SCMP_ACT_NOTIFY": bpf.RET_USER_NOTIF,
}
WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

# enum scmp_compare in seccomp.h.
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}


ARCHES = ("X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL",
          "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC",
          "PARISC64", "RISCV64")
ARCH_NAMES = {f"SCMP_ARCH_{a}": a.lower() for a in ARCHES}  # libseccomp's names: x86_64, x32...

# The init makes these calls after the filter is in and before the listener has its fd:
# a NOTIFY rule on them would hang the container start forever.
NOT_NOTIFIABLE = ("write", "sendmsg")

MAX_ERRNO = 4094  # libseccomp refuses 4095 (MAX_ERRNO itself)
MAX_U64 = (1 << 64) - 1
_TOP = ("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
        "listenerMetadata", "syscalls")
_SYSCALL = ("names", "action", "errnoRet", "args", "comment")
_ARG = ("index", "value", "valueTwo", "op")


def validate(obj, where="linux.seccomp"):
    """Check an OCI seccomp object; return its normal form (a new dict)."""
    _need_object(obj, where, _TOP)
    default = _action(obj.get("defaultAction"), f"{where}.defaultAction")
    if default == "SCMP_ACT_NOTIFY":
        raise PyboxError(f"{where}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
    profile = {
        "defaultAction": default,
        "defaultErrnoRet": _errno_ret(obj, default, f"{where}.defaultErrnoRet", "defaultErrnoRet"),
        "architectures": _known_names(obj.get("architectures"), f"{where}.architectures", ARCH_NAMES,
                                      "architecture"),
        "flags": _known_names(obj.get("flags"), f"{where}.flags", FLAGS, "flag"),
        "listenerPath": _optional_str(obj.get("listenerPath"), f"{where}.listenerPath"),
        "listenerMetadata": _optional_str(obj.get("listenerMetadata"), f"{where}.listenerMetadata") or "",
        "syscalls": [_syscall(s, f"{where}.syscalls[{i}]") for i, s in enumerate(_list(obj, "syscalls", where))],
    }
    _check_notify(profile, where)
    return profile


def _need_object(value, where, known):
    if not isinstance(value, dict):
        raise PyboxError(f"{where}: must be an object, not {_kind(value)}")
    for key in value:
        if key not in known:
            raise PyboxError(f"{where}.{key}: unknown field")


def _list(obj, key, where):
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PyboxError(f"{where}.{key}: must be a list, not {_kind(value)}")
    return value


def _action(value, where):
    if value is None:
        raise PyboxError(f"{where}: missing")
    if not isinstance(value, str) or value not in ACTIONS:
        raise PyboxError(f"{where}: unknown action {value!r}")
    return value


def _errno_ret(obj, action, where, key):
    value = obj.get(key)
    if value is None:
        return 1 if action in WITH_ERRNO else None  # EPERM, as runc does
    if action not in WITH_ERRNO:
        raise PyboxError(f"{where}: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {action}")
    return _uint(value, where, MAX_ERRNO)


def _uint(value, where, maximum):
    if not isinstance(value, int) or isinstance(value, bool):
        raise PyboxError(f"{where}: must be an integer, not {_kind(value)}")
    if not 0 <= value <= maximum:
        raise PyboxError(f"{where}: {value} is out of range 0..{maximum}")
    return value


def _known_names(value, where, known, what):
    """A list of names from a fixed set (architectures, flags), duplicates dropped."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PyboxError(f"{where}: must be a list, not {_kind(value)}")
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in known:
            raise PyboxError(f"{where}[{i}]: unknown {what} {name!r}")
    return list(dict.fromkeys(value))


def _optional_str(value, where):
    if value is not None and not isinstance(value, str):
        raise PyboxError(f"{where}: must be a string, not {_kind(value)}")
    return value


def _syscall(obj, where):
    _need_object(obj, where, _SYSCALL)
    names = obj.get("names")
    if not isinstance(names, list) or not names:
        raise PyboxError(f"{where}.names: must be a non-empty list of syscall names")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise PyboxError(f"{where}.names[{i}]: must be a syscall name, not {name!r}")
    action = _action(obj.get("action"), f"{where}.action")
    return {
        "names": names,
        "action": action,
        "errnoRet": _errno_ret(obj, action, f"{where}.errnoRet", "errnoRet"),
        "args": [_arg(a, f"{where}.args[{i}]") for i, a in enumerate(_list(obj, "args", where))],
    }


def _arg(obj, where):
    _need_object(obj, where, _ARG)
    if not isinstance(obj.get("op"), str) or obj["op"] not in OPERATORS:
        raise PyboxError(f"{where}.op: unknown operator {obj.get('op')!r}")
    if "index" not in obj:
        raise PyboxError(f"{where}.index: missing")
    if "value" not in obj:
        raise PyboxError(f"{where}.value: missing")
    return {"index": _uint(obj["index"], f"{where}.index", 5),
            "value": _uint(obj["value"], f"{where}.value", MAX_U64),
            "valueTwo": _uint(obj.get("valueTwo", 0), f"{where}.valueTwo", MAX_U64),
            "op": obj["op"]}


def _check_notify(profile, where):
    for i, rule in enumerate(profile["syscalls"]):
        if rule["action"] != "SCMP_ACT_NOTIFY":
            continue
        if not profile["listenerPath"]:
            raise PyboxError(f"{where}.listenerPath: required when syscalls[{i}] uses SCMP_ACT_NOTIFY")
        for name in rule["names"]:
            if name in NOT_NOTIFIABLE:
                raise PyboxError(f"{where}.syscalls[{i}]: SCMP_ACT_NOTIFY cannot be used for {name!r}: "
                                 "the runtime needs it before the listener is connected")


def _kind(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "an integer", float: "a number"}.get(type(value), type(value).__name__)
