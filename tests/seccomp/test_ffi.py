"""The committed cffi module matches its declarations, and libseccomp is the one we bind."""

import os

from pybox.seccomp import _libseccomp_build, libseccomp


def test_generated_module_is_current():
    path = os.path.join(os.path.dirname(_libseccomp_build.__file__), "_libseccomp_ffi.py")
    with open(path) as f:
        committed = f.read()
    assert committed == _libseccomp_build.generate(), \
        "run: python -m pybox.seccomp._libseccomp_build"


def test_libseccomp_resolves_names_on_every_x86_arch():
    x86_64, x86, x32 = (libseccomp.arch_token(n) for n in ("x86_64", "x86", "x32"))
    assert libseccomp.syscall_number(x86_64, "getppid") == 110
    assert libseccomp.syscall_number(x86, "getppid") == 64
    assert libseccomp.syscall_number(x32, "getppid") == 0x40000000 | 110
    assert libseccomp.syscall_number(x86_64, "no_such_call") is None
    assert libseccomp.syscall_name(x86_64, 110) == "getppid"
    assert tuple(map(int, libseccomp.version().split("."))) >= (2, 5, 0)
