"""The default profile of `pybox run` (Docker's), and Docker-format profiles turned into OCI ones.

Both formats carry rules that depend on the container's capabilities, the machine and the
kernel; here they are resolved once into a plain OCI seccomp object.
"""

import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_profile.json")

# Docker writes arches as Go names; pybox's own data uses `uname -m`.
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64"}
OCI_KEYS = ("names", "action", "errnoRet", "args")


def default_profile(capabilities):
    import json
    with open(DATA) as f:
        data = json.load(f)
    machine = os.uname().machine
    caps = set(capabilities or ())
    syscalls = [_oci_rule(rule) for rule in data["rules"]
                if _applies(caps, machine, rule.get("caps"), rule.get("notCaps"), rule.get("arches"),
                            rule.get("notArches"), rule.get("minKernel"))]
    return {"defaultAction": data["defaultAction"], "defaultErrnoRet": data["defaultErrnoRet"],
            "architectures": data["archMap"].get(machine, []), "syscalls": syscalls}


def is_docker_format(profile):
    if not isinstance(profile, dict):
        return False
    rules = profile.get("syscalls")
    rules = rules if isinstance(rules, list) else []
    return "archMap" in profile or any(isinstance(r, dict) and ("includes" in r or "excludes" in r)
                                       for r in rules)


def from_docker(profile, capabilities):
    """A Docker seccomp profile (archMap, includes/excludes) -> the OCI object for this host."""
    machine = os.uname().machine
    caps = set(capabilities or ())
    arches = []
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == f"SCMP_ARCH_{machine.upper()}":
            arches = [entry["architecture"], *(entry.get("subArchitectures") or ())]
    syscalls = []
    for rule in profile.get("syscalls") or ():
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if _applies(caps, GO_ARCH.get(machine, machine), inc.get("caps"), exc.get("caps"),
                    inc.get("arches"), exc.get("arches"), inc.get("minKernel")):
            syscalls.append(_oci_rule(rule))
    oci = {k: profile[k] for k in ("defaultAction", "defaultErrnoRet", "flags", "listenerPath",
                                   "listenerMetadata") if profile.get(k) is not None}
    oci["architectures"] = arches or list(profile.get("architectures") or ())
    oci["syscalls"] = syscalls
    return oci


def _oci_rule(rule):
    names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
    oci = {k: rule[k] for k in OCI_KEYS if rule.get(k) not in (None, [])}
    oci["names"] = names
    return oci


def _applies(caps, arch, need_caps, refuse_caps, arches, not_arches, min_kernel):
    if need_caps and not all(c in caps for c in need_caps):
        return False
    if refuse_caps and any(c in caps for c in refuse_caps):
        return False
    if arches and arch not in arches:
        return False
    if not_arches and arch in not_arches:
        return False
    return not min_kernel or _kernel_at_least(min_kernel)


def _kernel_at_least(version):
    def numbers(text):
        parts = []
        for part in text.split(".")[:2]:
            digits = "".join(ch for ch in part if ch.isdigit()) or "0"
            parts.append(int(digits))
        return tuple(parts)
    return numbers(os.uname().release.split("-")[0]) >= numbers(version)
