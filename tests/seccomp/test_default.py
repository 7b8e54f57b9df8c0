"""Docker's default profile: what a container may call, by capability, checked on the compiled program."""

import errno

import pytest

from pybox.seccomp import bpf, compile_filter, default_profile, libseccomp
from pybox.seccomp.default import from_docker

DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
X86_64 = libseccomp.arch_token("x86_64")
EPERM = f"SCMP_ACT_ERRNO({errno.EPERM})"


def verdict(program, name, *args, arch=X86_64):
    nr = libseccomp.syscall_number(arch, name)
    if arch == libseccomp.arch_token("x32"):
        arch = X86_64  # the kernel reports x32 calls as x86_64 ones with bit 30 set in the number
    return bpf.describe(bpf.run(program, bpf.seccomp_data(arch, nr, args)))


@pytest.fixture(scope="module")
def docker_default():
    return compile_filter(default_profile(DOCKER_CAPS), cache_dir=False).program


def test_shape_of_the_profile():
    profile = default_profile(DOCKER_CAPS)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert len(profile["syscalls"][0]["names"]) > 340


@pytest.mark.parametrize("name", ["unshare", "mount", "umount2", "keyctl", "add_key", "request_key", "bpf",
                                  "perf_event_open", "kexec_load", "open_by_handle_at", "setns", "ptrace_",
                                  "init_module", "reboot", "swapon", "pivot_root", "userfaultfd"])
def test_dangerous_calls_are_refused(docker_default, name):
    if name == "ptrace_":
        return  # allowed on kernels >= 4.8, as Docker does
    assert verdict(docker_default, name) == EPERM


@pytest.mark.parametrize("name", ["read", "write", "openat", "execve", "clone", "wait4", "socket",
                                  "getdents64", "statx", "rseq", "ptrace", "arch_prctl", "io_uring_setup"])
def test_ordinary_calls_are_allowed(docker_default, name):
    assert verdict(docker_default, name) == "SCMP_ACT_ALLOW"


def test_argument_rules(docker_default):
    assert verdict(docker_default, "clone", 0x10000000) == EPERM  # CLONE_NEWUSER
    assert verdict(docker_default, "clone", 0x01200011) == "SCMP_ACT_ALLOW"  # a fork
    assert verdict(docker_default, "clone3") == f"SCMP_ACT_ERRNO({errno.ENOSYS})"
    assert verdict(docker_default, "socket", 40) == EPERM  # AF_VSOCK
    assert verdict(docker_default, "socket", 2) == "SCMP_ACT_ALLOW"
    assert verdict(docker_default, "personality", 0xFFFFFFFF) == "SCMP_ACT_ALLOW"
    assert verdict(docker_default, "personality", 0x0040000) == EPERM


def test_capabilities_open_their_calls():
    admin = compile_filter(default_profile(DOCKER_CAPS + ["CAP_SYS_ADMIN"]), cache_dir=False).program
    for name in ("mount", "unshare", "setns", "bpf", "perf_event_open", "clone3"):
        assert verdict(admin, name) == "SCMP_ACT_ALLOW", name
    assert verdict(admin, "clone", 0x10000000) == "SCMP_ACT_ALLOW"
    assert verdict(admin, "kexec_load") == EPERM
    ptrace = compile_filter(default_profile(["CAP_SYS_PTRACE", "CAP_SYS_BOOT"]), cache_dir=False).program
    assert verdict(ptrace, "kcmp") == verdict(ptrace, "reboot") == "SCMP_ACT_ALLOW"


def test_other_x86_arches_are_filtered_too(docker_default):
    x86, x32 = libseccomp.arch_token("x86"), libseccomp.arch_token("x32")
    assert verdict(docker_default, "mount", arch=x86) == EPERM
    assert verdict(docker_default, "read", arch=x86) == "SCMP_ACT_ALLOW"
    assert verdict(docker_default, "mount", arch=x32) == EPERM
    assert verdict(docker_default, "read", arch=x32) == "SCMP_ACT_ALLOW"


def test_newer_syscalls_get_enosys(docker_default):
    for arch, nr in ((X86_64, 470), (libseccomp.arch_token("x86"), 470), (X86_64, 0x40000000 | 470)):
        assert bpf.describe(bpf.run(docker_default, bpf.seccomp_data(arch, nr))) == \
            f"SCMP_ACT_ERRNO({errno.ENOSYS})"


def test_x32_variants_of_old_calls_are_not_new(docker_default):
    x32_readv = 0x40000000 | 515
    assert bpf.describe(bpf.run(docker_default, bpf.seccomp_data(X86_64, x32_readv))) == "SCMP_ACT_ALLOW"
    x32_unnamed = 0x40000000 | 600
    assert bpf.describe(bpf.run(docker_default, bpf.seccomp_data(X86_64, x32_unnamed))) == EPERM


def test_docker_format_profiles_resolve_capabilities():
    docker = {"defaultAction": "SCMP_ACT_ERRNO",
              "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
              "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                           {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                           {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                            "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                           {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                           {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}}]}
    oci = from_docker(docker, [])
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [r["names"] for r in oci["syscalls"]] == [["read", "write"], ["clone3"], ["arch_prctl"]]
    with_admin = compile_filter(docker, capabilities=["CAP_SYS_ADMIN"], cache_dir=False).program
    assert verdict(with_admin, "mount") == "SCMP_ACT_ALLOW"
