"""pybox-runc features: what this pybox supports, as runtime-spec features.md describes it."""

from pybox.args import Parser

parser = Parser("features", [], usage="features")


def features():
    from pybox import OCI_VERSION
    from pybox.runtime.spec import HOOK_KINDS
    from pybox.runtime.init.mountopts import FLAGS, IDMAP, PROPAGATION, RECURSIVE
    from pybox.runtime.spec import CAPABILITIES, MEMORY_POLICY_FLAGS, MEMORY_POLICY_MODES, NAMESPACE_FLAGS
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": sorted([*FLAGS, *PROPAGATION, *RECURSIVE, *IDMAP]),
        "linux": {
            "namespaces": list(NAMESPACE_FLAGS),
            "capabilities": CAPABILITIES,
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": True},
            "seccomp": _seccomp(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "memoryPolicy": {"modes": list(MEMORY_POLICY_MODES), "flags": list(MEMORY_POLICY_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {"io.github.pybox.version": _version()},
    }


def _seccomp():
    return {
        "enabled": True,
        "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP"],
        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                      "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                  "SCMP_ARCH_ARM"],
        "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                       "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                           "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    }


def _version():
    from pybox import __version__
    return __version__


def main(g, argv):
    from pybox import jsonio
    parser.parse(argv)
    print(jsonio.dumps(features(), indent=2))
    return 0
