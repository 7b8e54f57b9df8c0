"""The JSON types of config.json (and exec's process.json), checked in one pass before anything runs.

The table follows the runtime-spec's Go types (specs-go/config.go), which is what runc unmarshals
into: a field of the wrong JSON type, a float or an out-of-range number for an integer field, is
refused as runc refuses it ("cannot unmarshal string into ... noNewPrivileges of type bool"), but
here the error names the JSON path: "config.json: process.capabilities.bounding[2]: must be a
string, not an integer". On top of the Go types: no NUL byte or lone surrogate in a string the
kernel will see, and user and group ids 0 to 4294967294 (4294967295 is (uid_t)-1, which setresuid
and chown take as "leave unchanged": a config asking for it would run as root).

As in Go, null stands for an absent member (the member is removed, so later code never sees None);
unknown members are left alone. The meaning of values (enums, paths, cross-field rules) is
runtime/spec.py's work, which runs after this and can trust the types.

Kept cheap: it runs on every create. No imports; the path of a bad field is built only on error.
About 0.2 ms to import and 0.1 ms to check a config carrying Docker's default seccomp profile.
"""

from pybox.errors import PyboxError


# The table's nodes are tuples, not classes: a class costs more to create than the whole table.
def Obj(required=(), **fields):
    """An object with these members (unknown ones are ignored); `required` must be present."""
    return ("obj", fields, required)


def Arr(item):
    return ("arr", item)


def Map(item):
    """An object with free keys (sysctl, annotations, ...), every value of one type."""
    return ("map", item)


def Int(lo, hi):
    return ("int", lo, hi)


STR = "string"  # a string the kernel may see: no NUL byte, encodable as UTF-8
TEXT = "text"  # any string (annotations: metadata only)
BOOL = "bool"
ANY = "any"

I32 = Int(-(1 << 31), (1 << 31) - 1)
I64 = Int(-(1 << 63), (1 << 63) - 1)
U16 = Int(0, (1 << 16) - 1)
U32 = Int(0, (1 << 32) - 1)
U64 = Int(0, (1 << 64) - 1)
ID = Int(0, (1 << 32) - 2)  # uid/gid: (uid_t)-1 means "no change" to setresuid, chown, setgroups
STRS = Arr(STR)

IDMAP = Obj(("containerID", "hostID", "size"), containerID=ID, hostID=ID, size=Int(1, (1 << 32) - 1))

PROCESS = Obj(
    terminal=BOOL,
    consoleSize=Obj(height=U16, width=U16),  # Go's uint; TIOCSWINSZ takes 16 bits
    user=Obj(uid=ID, gid=ID, umask=Int(0, 0o7777), additionalGids=Arr(ID), username=STR),
    args=STRS, commandLine=STR, env=STRS, cwd=STR,
    capabilities=Obj(bounding=STRS, effective=STRS, inheritable=STRS, permitted=STRS, ambient=STRS),
    rlimits=Arr(Obj(type=STR, soft=U64, hard=U64)),
    noNewPrivileges=BOOL, apparmorProfile=STR, selinuxLabel=STR,
    oomScoreAdj=I64,
    scheduler=Obj(("policy",), policy=STR, nice=Int(-20, 19), priority=Int(0, 99), flags=STRS,
                  runtime=U64, deadline=U64, period=U64),
    ioPriority=Obj(("class",), **{"class": STR}, priority=Int(0, 7)),
    execCPUAffinity=Obj(initial=STR, final=STR),
)

HOOK = Obj(("path",), path=STR, args=STRS, env=STRS, timeout=Int(1, (1 << 31) - 1))

DEVICE_NUMBER = Int(-1, (1 << 32) - 1)  # -1: any (a wildcard in a device cgroup rule)
BLOCK_DEVICE = dict(major=Int(0, (1 << 32) - 1), minor=Int(0, (1 << 32) - 1))

RESOURCES = Obj(
    devices=Arr(Obj(allow=BOOL, type=STR, major=DEVICE_NUMBER, minor=DEVICE_NUMBER, access=STR)),
    memory=Obj(limit=I64, reservation=I64, swap=I64, kernel=I64, kernelTCP=I64, swappiness=U64,
               disableOOMKiller=BOOL, useHierarchy=BOOL, checkBeforeUpdate=BOOL),
    cpu=Obj(shares=U64, quota=I64, burst=U64, period=U64, realtimeRuntime=I64, realtimePeriod=U64,
            cpus=STR, mems=STR, idle=I64),
    pids=Obj(limit=I64),
    blockIO=Obj(weight=U16, leafWeight=U16,
                weightDevice=Arr(Obj(("major", "minor"), weight=U16, leafWeight=U16, **BLOCK_DEVICE)),
                **{key: Arr(Obj(("major", "minor"), rate=U64, **BLOCK_DEVICE))
                   for key in ("throttleReadBpsDevice", "throttleWriteBpsDevice",
                               "throttleReadIOPSDevice", "throttleWriteIOPSDevice")}),
    hugepageLimits=Arr(Obj(("pageSize", "limit"), pageSize=STR, limit=U64)),
    network=Obj(classID=U32, priorities=Arr(Obj(("name",), name=STR, priority=U32))),
    rdma=Map(Obj(hcaHandles=U32, hcaObjects=U32)),
    unified=Map(STR),
)

# linux.seccomp, in OCI form or Docker's (archMap, includes/excludes), which is resolved first.
SECCOMP_CONDITIONS = Obj(caps=STRS, arches=STRS, minKernel=STR)
SECCOMP = Obj(
    ("defaultAction",),
    defaultAction=STR, defaultErrnoRet=U64, architectures=STRS, flags=STRS, listenerPath=STR,
    listenerMetadata=STR,
    archMap=Arr(Obj(architecture=STR, subArchitectures=STRS)),
    syscalls=Arr(Obj(
        ("action",),
        names=STRS, name=STR, action=STR, errnoRet=U64, comment=ANY,
        args=Arr(Obj(("index", "value", "op"), index=U64, value=U64, valueTwo=U64, op=STR)),
        includes=SECCOMP_CONDITIONS, excludes=SECCOMP_CONDITIONS)),
)

LINUX = Obj(
    uidMappings=Arr(IDMAP), gidMappings=Arr(IDMAP),
    sysctl=Map(STR),
    resources=RESOURCES,
    cgroupsPath=STR,
    namespaces=Arr(Obj(("type",), type=STR, path=STR)),
    devices=Arr(Obj(("path", "type"), path=STR, type=STR, major=U32, minor=U32, fileMode=U32,
                    uid=ID, gid=ID)),
    seccomp=SECCOMP,
    rootfsPropagation=STR, maskedPaths=STRS, readonlyPaths=STRS, mountLabel=STR,
    personality=Obj(("domain",), domain=STR, flags=STRS),
    timeOffsets=Map(Obj(secs=I64, nanosecs=U32)),
    memoryPolicy=Obj(("mode",), mode=STR, nodes=STR, flags=STRS),
    netDevices=Map(Obj(name=STR)),
)

CONFIG = Obj(
    ("ociVersion",),
    ociVersion=STR,
    process=PROCESS,
    root=Obj(("path",), path=STR, readonly=BOOL),
    hostname=STR, domainname=STR,
    mounts=Arr(Obj(("destination",), destination=STR, type=STR, source=STR, options=STRS,
                   uidMappings=Arr(IDMAP), gidMappings=Arr(IDMAP))),
    hooks=Obj(**{kind: Arr(HOOK) for kind in ("prestart", "createRuntime", "createContainer",
                                              "startContainer", "poststart", "poststop")}),
    annotations=Map(TEXT),
    linux=LINUX,
)


# The readers of a checked config (View, view() and Config) are in runtime/view.py.


def check_config(config):
    """Raise a PyboxError naming the first field of config.json whose type is wrong."""
    check(config, CONFIG, "config.json")


def check_process(process, prefix="exec", root="process"):
    """The same for a process object on its own (exec --process FILE, or exec's arguments)."""
    check(process, PROCESS, prefix, root)


def check(value, schema, prefix, root=""):
    """prefix: what the message starts with; root: the JSON path of value itself."""
    try:
        _check(value, schema)
    except PyboxError as bad:
        path = (root + "".join(reversed(bad.path))).lstrip(".")
        raise PyboxError(f"{prefix}: {path}: {bad.message}" if path else f"{prefix}: {bad.message}") from None


def _bad(message, part=None):
    bad = PyboxError(message)
    bad.path = [] if part is None else [part]  # innermost first
    return bad


def _check(value, schema):
    if type(schema) is tuple:
        kind = schema[0]
        if kind == "obj":
            if type(value) is not dict:
                raise _bad(f"must be an object, not {_kind(value)}")
            fields = schema[1]
            nulls = None
            for key, item in value.items():
                sub = fields.get(key)
                if sub is None:
                    continue  # unknown: ignored, as runc ignores it
                if item is None:
                    nulls = [key] if nulls is None else nulls + [key]
                    continue
                try:
                    _check(item, sub)
                except PyboxError as bad:
                    bad.path.append("." + key)
                    raise
            if nulls:
                for key in nulls:
                    del value[key]
            for key in schema[2]:
                if key not in value:
                    raise _bad("missing", "." + key)
        elif kind == "arr":
            if type(value) is not list:
                raise _bad(f"must be an array, not {_kind(value)}")
            item_schema = schema[1]
            for i, item in enumerate(value):
                try:
                    if item is None:
                        raise _bad(f"must be {_what(item_schema)}, not null")
                    _check(item, item_schema)
                except PyboxError as bad:
                    bad.path.append(f"[{i}]")
                    raise
        elif kind == "int":
            if type(value) is not int:
                raise _bad(f"must be an integer, not {_kind(value)}")
            if not schema[1] <= value <= schema[2]:
                shown = value if -(1 << 70) < value < (1 << 70) else "a larger number"
                raise _bad(f"must be {schema[1]} to {schema[2]}, not {shown}")
        else:  # "map"
            if type(value) is not dict:
                raise _bad(f"must be an object, not {_kind(value)}")
            item_schema = schema[1]
            for key, item in value.items():
                try:
                    if "\0" in key:
                        raise _bad("the name must not contain a NUL byte")
                    if not key.isascii():
                        _utf8(key)
                    if item is None:
                        raise _bad(f"must be {_what(item_schema)}, not null")
                    _check(item, item_schema)
                except PyboxError as bad:
                    bad.path.append("." + key if key and key.isprintable() else f"[{key!r}]")
                    raise
    elif schema is STR:
        if type(value) is not str:
            raise _bad(f"must be a string, not {_kind(value)}")
        if "\0" in value:
            raise _bad("must not contain a NUL byte")
        if not value.isascii():
            _utf8(value)
    elif schema is BOOL:
        if type(value) is not bool:
            raise _bad(f"must be true or false, not {_kind(value)}")
    elif schema is TEXT:
        if type(value) is not str:
            raise _bad(f"must be a string, not {_kind(value)}")


def _utf8(text):
    try:
        text.encode()
    except UnicodeEncodeError:
        raise _bad("must be valid UTF-8 text (it holds a lone surrogate)") from None


def _what(schema):
    if type(schema) is tuple:
        return {"int": "an integer", "arr": "an array"}.get(schema[0], "an object")
    return {STR: "a string", TEXT: "a string", BOOL: "true or false"}.get(schema, "a value")


def _kind(value):
    if type(value) is float:
        return f"a number with a fraction or exponent ({value!r})"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null", int: "an integer"}.get(type(value), type(value).__name__)
