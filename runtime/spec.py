"""Reading config.json and checking all of it, once, before anything is forked.

Errors name the JSON path ("linux.namespaces[2].type: ..."), so a person can find the bad field.
A field pybox cannot honour is an error, never silently ignored.

The result is a Config: the checked JSON (hooks, the state and the copy kept with the state read
it as JSON) plus, as objects, what the later steps act on: the namespaces (Namespaces), and
linux.resources with the default device rules (pybox.cgroups.resources.Resources, checked for
this host's cgroup version), so a bad value is refused here and not by the parent after the fork.
"""

import os

from pybox import jsonio
from pybox import kernel as k
from pybox.errors import PyboxError

NAMESPACE_FLAGS = {
    "pid": k.CLONE_NEWPID, "network": k.CLONE_NEWNET, "mount": k.CLONE_NEWNS, "ipc": k.CLONE_NEWIPC,
    "uts": k.CLONE_NEWUTS, "user": k.CLONE_NEWUSER, "cgroup": k.CLONE_NEWCGROUP, "time": k.CLONE_NEWTIME,
}
# /proc/<pid>/ns/<name> for each namespace type.
NAMESPACE_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
                   "user": "user", "cgroup": "cgroup", "time": "time"}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
CAP_NUMBERS = {name: i for i, name in enumerate(CAPABILITIES)}
CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

MOUNT_TYPES_WITHOUT_SOURCE_PATH = {"proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
                                   "overlay", "ramfs", "hugetlbfs", "securityfs", "debugfs", "tracefs",
                                   "fusectl", "binfmt_misc", "configfs", "pstore", "bpf"}

SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
               "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10,
               "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20, "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
MEMORY_POLICY_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
                       "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MEMORY_POLICY_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
                       "MPOL_F_STATIC_NODES": 1 << 15}
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}

# Fields pybox cannot honour on this kind of host: an error, not a silent skip.
UNSUPPORTED = {
    "linux.intelRdt": "Intel RDT (resctrl) is not supported by pybox",
    "linux.mountLabel": "SELinux labels are not supported by pybox",
    "process.selinuxLabel": "SELinux labels are not supported by pybox",
    "process.apparmorProfile": "AppArmor profiles are not supported by pybox",
    "solaris": "Solaris containers are not supported", "windows": "Windows containers are not supported",
    "vm": "VM-based containers are not supported",
}


def fail(path, message):
    raise PyboxError(f"config.json: {path}: {message}")


class Namespaces:
    """linux.namespaces as the runtime acts on them: flags of the new ones, (type, path) of the
    joined ones."""

    __slots__ = ("new_flags", "joins")

    def __init__(self, entries):
        self.new_flags = 0
        self.joins = []
        for ns in entries:
            if ns.get("path"):
                self.joins.append((ns["type"], ns["path"]))
            else:
                self.new_flags |= NAMESPACE_FLAGS[ns["type"]]

    def joins_kind(self, kind):
        return any(t == kind for t, _ in self.joins)

    def has(self, kind):
        """A namespace of this kind, new or joined."""
        return bool(self.new_flags & NAMESPACE_FLAGS[kind]) or self.joins_kind(kind)


# Config (the checked config.json, members as attributes) lives in schema.py: reading a saved
# config (start, delete) must not pay for this module's imports.

def load_bundle(bundle):
    """Read and check <bundle>/config.json; returns the config dict."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            config = jsonio.loads(f.read())
    except FileNotFoundError:
        raise PyboxError(f"bundle {bundle}: config.json not found") from None
    except jsonio.TooDeep as err:
        raise PyboxError(f"config.json: {err}") from None
    except ValueError as err:
        raise PyboxError(f"config.json: not valid JSON: {err}") from None
    except OSError as err:
        raise PyboxError(f"bundle {bundle}: {err.strerror}") from None
    return validate(config, bundle)


def _get(config, dotted):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _expect(value, kind, path):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = {dict: "an object", list: "an array", str: "a string", int: "an integer",
                bool: "true or false"}.get(kind, str(kind))
        fail(path, f"must be {name}")
    return value


def validate(config, bundle):
    """The checked Config of a config.json's JSON object."""
    from pybox.runtime.schema import check_config
    check_config(config)  # every field's JSON type, before anything here reads one
    if not config["ociVersion"].startswith("1."):
        fail("ociVersion", f"version {config['ociVersion']} is not supported (1.x is)")
    for dotted, why in UNSUPPORTED.items():
        value = _get(config, dotted)
        if value not in (None, "", {}, []):
            fail(dotted, why)
    _validate_root(config, bundle)
    _validate_process(config.get("process") or {}, "process", typed=True)
    linux = _expect(config.get("linux") or {}, dict, "linux")
    flags = _validate_namespaces(linux)
    _validate_mappings(linux, flags)
    _validate_mounts(config.get("mounts") or [], linux)
    if not flags & k.CLONE_NEWNS and not _joins(linux, "mount"):  # joined: set up there, as runc
        _refuse_what_needs_a_mount_namespace(config)
    _validate_hooks(config.get("hooks") or {})
    _validate_sysctl(linux.get("sysctl") or {}, flags | _joined_flags(linux))
    for key in ("hostname", "domainname"):
        if config.get(key) and not flags & k.CLONE_NEWUTS and not _joins(linux, "uts"):
            fail(key, "needs a uts namespace")
    for name in ("maskedPaths", "readonlyPaths"):
        for i, p in enumerate(_expect(linux.get(name) or [], list, f"linux.{name}")):
            if not isinstance(p, str) or not p.startswith("/"):
                fail(f"linux.{name}[{i}]", "must be an absolute path")
    if linux.get("rootfsPropagation") not in (None, "", "shared", "slave", "private", "unbindable",
                                              "rshared", "rslave", "rprivate", "runbindable"):
        fail("linux.rootfsPropagation", f"unknown propagation {linux['rootfsPropagation']!r}")
    if linux.get("timeOffsets") and not flags & k.CLONE_NEWTIME:
        fail("linux.timeOffsets", "needs a new time namespace")
    for i, dev in enumerate(_expect(linux.get("devices") or [], list, "linux.devices")):
        _validate_device(dev, f"linux.devices[{i}]")
    _validate_net_devices(linux.get("netDevices") or {}, flags)
    _validate_memory_policy(linux.get("memoryPolicy"))
    personality = linux.get("personality")
    if personality is not None:
        if _expect(personality, dict, "linux.personality").get("domain") not in PERSONALITY_DOMAINS:
            fail("linux.personality.domain", f"must be one of {', '.join(PERSONALITY_DOMAINS)}")
        if personality.get("flags"):
            fail("linux.personality.flags", "no personality flags are defined by the runtime-spec yet")
    annotations = config.get("annotations") or {}
    for key, value in _expect(annotations, dict, "annotations").items():
        if not isinstance(value, str):
            fail(f"annotations.{key}", "must be a string")
    from pybox.runtime.view import Config
    model = Config(config)
    model.namespaces = Namespaces(linux.get("namespaces") or [])
    model.resources = _resources(linux)
    return model


def _resources(linux):
    """linux.resources with runc's default device rules, checked for this host's cgroup version."""
    from pybox.cgroups import hierarchy
    from pybox.cgroups.resources import Resources
    from pybox.runtime.devices import resources_with_default_devices
    try:
        resources = Resources.parse(resources_with_default_devices(linux))
        return resources.check_for(2 if hierarchy.snapshot()[0] == "unified" else 1)
    except PyboxError as err:
        raise PyboxError(f"config.json: {err}") from None


def _validate_root(config, bundle):
    root = _expect(config.get("root"), dict, "root") if config.get("root") is not None else None
    if not root or not isinstance(root.get("path"), str) or not root["path"]:
        fail("root.path", "missing")
    path = root_path(config, bundle)
    if not os.path.isdir(path):
        fail("root.path", f"{path} is not a directory")


def root_path(config, bundle):
    return os.path.normpath(os.path.join(os.path.abspath(bundle), config["root"]["path"]))


def _validate_process(process, path, typed=False):
    if not typed:  # exec's process: config.json's was checked with the rest of config.json
        from pybox.runtime.schema import check_process
        check_process(process)
    if not process:
        fail(path, "missing: there is nothing to run")
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        fail(f"{path}.args", "must be a non-empty array of strings")
    if not isinstance(process.get("cwd", "/"), str) or not process.get("cwd", "/").startswith("/"):
        fail(f"{path}.cwd", "must be an absolute path")
    for i, item in enumerate(_expect(process.get("env") or [], list, f"{path}.env")):
        if not isinstance(item, str) or "=" not in item:
            fail(f"{path}.env[{i}]", f"{item!r} is not KEY=value")
    caps = _expect(process.get("capabilities") or {}, dict, f"{path}.capabilities")
    for kind, names in caps.items():
        if kind not in CAP_SETS:
            fail(f"{path}.capabilities.{kind}", "unknown capability set")
        for i, name in enumerate(_expect(names or [], list, f"{path}.capabilities.{kind}")):
            if name not in CAP_NUMBERS:
                fail(f"{path}.capabilities.{kind}[{i}]", f"unknown capability {name!r}")
    seen = set()
    for i, rl in enumerate(_expect(process.get("rlimits") or [], list, f"{path}.rlimits")):
        where = f"{path}.rlimits[{i}]"
        if _expect(rl, dict, where).get("type") not in RLIMITS:
            fail(f"{where}.type", f"unknown rlimit {rl.get('type')!r}")
        if rl["type"] in seen:
            fail(f"{where}.type", f"{rl['type']} given twice")
        seen.add(rl["type"])
        for bound in ("soft", "hard"):
            _expect(rl.get(bound), int, f"{where}.{bound}")
        if rl["soft"] > rl["hard"]:
            fail(where, "soft limit is above the hard limit")
    size = process.get("consoleSize")
    if size is not None:
        for key in ("height", "width"):
            _expect(_expect(size, dict, f"{path}.consoleSize").get(key), int, f"{path}.consoleSize.{key}")
    if "oomScoreAdj" in process and not -1000 <= _expect(process["oomScoreAdj"], int, f"{path}.oomScoreAdj") <= 1000:
        fail(f"{path}.oomScoreAdj", "must be between -1000 and 1000")
    prio = process.get("ioPriority")
    if prio is not None and _expect(prio, dict, f"{path}.ioPriority").get("class") not in IOPRIO_CLASSES:
        fail(f"{path}.ioPriority.class", f"unknown class {prio.get('class')!r}")
    affinity = process.get("execCPUAffinity")
    if affinity is not None:
        for key, value in _expect(affinity, dict, f"{path}.execCPUAffinity").items():
            where = f"{path}.execCPUAffinity.{key}"
            if key not in ("initial", "final"):
                fail(where, "unknown field (initial or final)")
            try:
                _cpus(_expect(value, str, where))
            except ValueError:
                fail(where, f"{value!r} is not a CPU list like 0-3,7")
    sched = process.get("scheduler")
    if sched is not None:
        if _expect(sched, dict, f"{path}.scheduler").get("policy") not in SCHED_POLICIES:
            fail(f"{path}.scheduler.policy", f"unknown policy {sched.get('policy')!r}")
        for i, flag in enumerate(sched.get("flags") or []):
            if flag not in SCHED_FLAGS:
                fail(f"{path}.scheduler.flags[{i}]", f"unknown flag {flag!r}")


def _cpus(text):
    """cpu_list, but an empty list is an error too: no CPU (or node) to run on."""
    from pybox.units import cpu_list
    if not cpu_list(text):
        raise ValueError(text)


def _validate_namespaces(linux):
    flags = 0
    seen = set()
    for i, ns in enumerate(_expect(linux.get("namespaces") or [], list, "linux.namespaces")):
        where = f"linux.namespaces[{i}]"
        kind = _expect(ns, dict, where).get("type")
        if kind not in NAMESPACE_FLAGS:
            fail(f"{where}.type", f"unknown namespace {kind!r}")
        if kind in seen:
            fail(f"{where}.type", f"namespace {kind} given twice")
        seen.add(kind)
        if ns.get("path"):
            if not os.path.exists(ns["path"]):
                fail(f"{where}.path", f"{ns['path']} does not exist")
        else:
            flags |= NAMESPACE_FLAGS[kind]
    if flags & k.CLONE_NEWTIME and not os.path.exists("/proc/self/ns/time"):
        fail("linux.namespaces", "this kernel has no time namespaces")
    return flags


def _joined_flags(linux):
    flags = 0
    for ns in linux.get("namespaces") or []:
        if ns.get("path") and ns.get("type") in NAMESPACE_FLAGS:
            flags |= NAMESPACE_FLAGS[ns["type"]]
    return flags


def _joins(linux, kind):
    return any(ns.get("type") == kind and ns.get("path") for ns in linux.get("namespaces") or [])


def _validate_mappings(linux, flags):
    has_user = flags & k.CLONE_NEWUSER or _joins(linux, "user")
    for key in ("uidMappings", "gidMappings"):
        maps = _expect(linux.get(key) or [], list, f"linux.{key}")
        if maps and not has_user:
            fail(f"linux.{key}", "mappings need a user namespace")
        _mapping_ends(maps, f"linux.{key}")
    if flags & k.CLONE_NEWUSER and not (linux.get("uidMappings") and linux.get("gidMappings")):
        fail("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")


def _mapping_ends(maps, where):
    """Each range's last id, too, is at most 4294967294: (uid_t)-1 is no id (schema.py: the types)."""
    for i, m in enumerate(maps):
        for start in ("containerID", "hostID"):
            if m[start] + m["size"] - 1 > 4294967294:
                fail(f"{where}[{i}]", f"{start} {m[start]} + size {m['size']} goes past id 4294967294")


def _validate_idmap(m, where, linux):
    from pybox.runtime.init.mountopts import parse_options
    idmapped = parse_options(m.get("options") or []).idmap is not None
    for key in ("uidMappings", "gidMappings"):
        maps = m.get(key)
        if maps and not idmapped:
            fail(f"{where}.{key}", "mappings need the idmap or ridmap option")
        _mapping_ends(maps or [], f"{where}.{key}")
        if idmapped and not (maps or linux.get(key)):
            fail(f"{where}.options", f"idmap needs {key} on the mount or in linux")
    if idmapped and not _is_bind(m):
        fail(f"{where}.options", "idmap applies to bind mounts only")


def _validate_mounts(mounts, linux):
    from pybox.runtime.init.mountopts import parse_options
    for i, m in enumerate(_expect(mounts, list, "mounts")):
        where = f"mounts[{i}]"
        dest = _expect(m, dict, where).get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            fail(f"{where}.destination", "must be an absolute path")
        if dest.rstrip("/") == "/proc" and m.get("type") not in ("proc", None) and not _is_bind(m):
            fail(f"{where}.type", "only a proc filesystem may be mounted at /proc")
        try:
            parse_options(m.get("options") or [])
        except ValueError as err:
            fail(f"{where}.options", str(err))
        if _is_bind(m) and not m.get("source"):
            fail(f"{where}.source", "a bind mount needs a source")
        _validate_idmap(m, where, linux)


# Without a mount namespace of its own the init only chroots into root.path: these fields would
# have to change the host's (or the joined namespace's) mounts, so they are refused, as runc
# refuses maskedPaths there, rather than silently dropped.
_NEED_A_MOUNT_NAMESPACE = ("mounts", "root.readonly", "linux.maskedPaths", "linux.readonlyPaths",
                           "linux.rootfsPropagation", "linux.devices")


def _refuse_what_needs_a_mount_namespace(config):
    for dotted in _NEED_A_MOUNT_NAMESPACE:
        if _get(config, dotted) not in (None, "", False, [], {}):
            fail(dotted, "needs a new mount namespace")


def _is_bind(m):
    return m.get("type") == "bind" or any(o in ("bind", "rbind") for o in m.get("options") or [])


def _validate_hooks(hooks):
    for kind, entries in _expect(hooks, dict, "hooks").items():
        if kind not in HOOK_KINDS:
            fail(f"hooks.{kind}", "unknown hook kind")
        for i, hook in enumerate(_expect(entries or [], list, f"hooks.{kind}")):
            where = f"hooks.{kind}[{i}]"
            path = _expect(hook, dict, where).get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                fail(f"{where}.path", "must be an absolute path")
            if "timeout" in hook and _expect(hook["timeout"], int, f"{where}.timeout") <= 0:
                fail(f"{where}.timeout", "must be above zero")


# Sysctls that belong to a namespace (runc's validator): anything else would change the host.
_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def _validate_memory_policy(policy):
    if policy is None:
        return
    where = "linux.memoryPolicy"
    if _expect(policy, dict, where).get("mode") not in MEMORY_POLICY_MODES:
        fail(f"{where}.mode", f"unknown mode {policy.get('mode')!r}")
    for i, flag in enumerate(_expect(policy.get("flags") or [], list, f"{where}.flags")):
        if flag not in MEMORY_POLICY_FLAGS:
            fail(f"{where}.flags[{i}]", f"unknown flag {flag!r}")
    nodes = policy.get("nodes")
    if nodes:
        try:
            _cpus(_expect(nodes, str, f"{where}.nodes"))
        except ValueError:
            fail(f"{where}.nodes", f"{nodes!r} is not a node list like 0-1,3")
    elif policy["mode"] in ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"):
        fail(f"{where}.nodes", f"{policy['mode']} needs nodes")


def _validate_net_devices(devices, flags):
    for host_name, device in _expect(devices, dict, "linux.netDevices").items():
        where = f"linux.netDevices.{host_name}"
        if not flags & k.CLONE_NEWNET:
            fail(where, "moving a network device needs a new network namespace")
        name = _expect(device or {}, dict, where).get("name", host_name)
        if not isinstance(name, str) or not name or len(name) > 15 or "/" in name or name in (".", ".."):
            fail(f"{where}.name", f"{name!r} is not a valid interface name")


def _validate_sysctl(sysctl, flags):
    for key, value in _expect(sysctl, dict, "linux.sysctl").items():
        where = f"linux.sysctl.{key}"
        if not isinstance(value, str):
            fail(where, "value must be a string")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            need = k.CLONE_NEWIPC
        elif key.startswith("net."):
            need = k.CLONE_NEWNET
        elif key == "kernel.domainname":  # in the uts namespace; runc allows it there
            need = k.CLONE_NEWUTS
        elif key == "kernel.hostname":
            fail(where, "set hostname instead")
        else:
            fail(where, "not in a namespace the container owns; setting it would change the host")
        if not flags & need:
            names = {k.CLONE_NEWIPC: "ipc", k.CLONE_NEWNET: "network", k.CLONE_NEWUTS: "uts"}
            fail(where, f"needs its own {names[need]} namespace")


def _validate_device(dev, where):
    if _expect(dev, dict, where).get("type") not in ("c", "b", "u", "p"):
        fail(f"{where}.type", "must be c, b, u or p")
    path = dev.get("path")
    if not isinstance(path, str) or not path.startswith("/") or os.path.normpath(path) == "/":
        fail(f"{where}.path", "must be an absolute path")  # runc allows paths outside /dev
    if dev["type"] != "p":
        for key in ("major", "minor"):
            _expect(dev.get(key), int, f"{where}.{key}")
