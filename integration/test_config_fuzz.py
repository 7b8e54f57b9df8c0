"""Mutated real configs through pybox: one line on stderr and exit status 1, or a container.

The configs are ones pybox did not write: `runc spec`'s, podman's (integration/data/podman_config.json,
kept from `podman run --runtime <a script that copies the bundle's config.json>`, podman 4.3.1) and
containerd's default spec (`ctr oci spec`), besides `pybox spec`'s; each carries Docker's default seccomp profile
(podman's its own). Mutations: wrong JSON types at every path the runtime spec defines, huge and
negative integers, NUL bytes and lone surrogates in strings, deep nesting, missing fields, unknown
enum values. Every mutated config is validated in-process (the same load_bundle that `create`
runs); those that pass, and a sample of those that do not, go through the real `pybox create`.
Each call has a timeout; after each, nothing may be left: state, mounts, processes, cgroups.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from integration.conftest import PYBOX_RUNC, own_cgroup_dirs, processes_rooted_in
from pybox.errors import PyboxError
from pybox.runtime import schema
from pybox.runtime.defaults import default_spec
from pybox.runtime.spec import load_bundle
from pybox.seccomp import default_profile

DATA = os.path.join(os.path.dirname(__file__), "data")

# Raw Python in a message: a traceback, an exception's class name or its own wording.
PYTHON_TEXT = re.compile(r"Traceback|\b[A-Z]\w*(Error|Exception)\b|object has no attribute|embedded null byte|"
                         r"int too large|unhashable|not subscriptable|object is not|surrogates not allowed|"
                         r"positional argument|NoneType|can't concat|invalid literal")

WRONG_TYPES = ["x", "", 0, 1, 1.5, True, False, [], {}, ["x"], [1], {"a": 1}, [{}]]
HUGE = [2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 63, 2 ** 64, 10 ** 30, -2 ** 63 - 1, 4294967294]
NEGATIVE = [-1, -2, -4096, -2 ** 31]
STRINGS = ["a\0b", "\0", "/\0", "/tmp/\ud800", "\ud800", "BOGUS", "SCMP_ACT_BOGUS", "CAP_BOGUS",
           "RLIMIT_BOGUS", "/", "..", "/dev/null", "line\nbreak", "a" * 5000]
DEEP = "@@DEEP@@"
DELETE = object()

# PYBOX_FUZZ_EXAMPLES=10000 for a longer hunt; the default keeps this file to about 20 s.
EXAMPLES = int(os.environ.get("PYBOX_FUZZ_EXAMPLES", "400"))
SETTINGS = dict(deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def containerd_spec():
    """containerd's default spec (`ctr oci spec`: oci.populateDefaultUnixSpec)."""
    out = subprocess.run(["ctr", "oci", "spec"], check=True, timeout=30, capture_output=True, text=True).stdout
    return json.loads(out)


def runc_spec(directory):
    subprocess.run(["runc", "spec"], cwd=directory, check=True, timeout=30, capture_output=True)
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    os.unlink(os.path.join(directory, "config.json"))
    # runc 1.1 only warns when it cannot raise the ambient set its own spec asks for without an
    # inheritable one; pybox refuses. Not what this test is about: keep the rest of runc's config.
    config["process"]["capabilities"].pop("ambient", None)
    return config


def podman_spec(files):
    with open(os.path.join(DATA, "podman_config.json")) as f:
        config = json.load(f)
    for m in config["mounts"]:  # podman's per-container files: recreate them here
        if m.get("type") == "bind":
            source = os.path.join(files, m["destination"].strip("/").replace("/", "_"))
            if m["destination"] == "/dev/shm":
                os.makedirs(source, exist_ok=True)
            else:
                open(source, "a").close()
            m["source"] = source
    # As integration/test_runtime_callers.py runs podman: this host's hard limits are lower.
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                                    {"type": "RLIMIT_NPROC", "hard": 1024, "soft": 1024}]
    return config


class Fuzz:
    def __init__(self, base, busybox_rootfs):
        self.base = str(base)
        self.bundle = os.path.join(self.base, "bundle")
        os.makedirs(self.bundle)
        self.rootfs = os.path.join(self.bundle, "rootfs")
        shutil.copytree(busybox_rootfs, self.rootfs, symlinks=True)
        self.state = os.path.join(self.base, "state")
        files = os.path.join(self.base, "files")
        os.makedirs(files)
        self.configs = {"pybox": default_spec(), "runc": runc_spec(self.base), "podman": podman_spec(files),
                        "containerd": containerd_spec()}
        # Below this process's own cgroups, as conftest's test_cgroup_path, but for the module:
        # Fuzz checks it after every container itself.
        self.cgroups_path = f"pybox-test/fuzz-{uuid.uuid4().hex[:12]}"
        for config in self.configs.values():
            process = config["process"]
            process.update(terminal=False, args=["true"])
            config["root"] = {"path": self.rootfs, "readonly": True}
            config["linux"]["cgroupsPath"] = self.cgroups_path
            if "seccomp" not in config["linux"]:  # Docker's default profile, as docker resolves it
                config["linux"]["seccomp"] = default_profile(process["capabilities"]["effective"])
        self.paths = {name: sorted(set(paths_in(config)) | set(schema_paths(schema.CONFIG)), key=repr)
                      for name, config in self.configs.items()}

    def write(self, config):
        text = json.dumps(config)
        if DEEP in text:
            depth = 100_000 if len(text) % 2 else 300
            text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            f.write(text)

    def pybox(self, *args, timeout=30):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run([PYBOX_RUNC, "--root", self.state, *args], stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=err, timeout=timeout).returncode
            err.seek(0)
            return code, err.read().decode(errors="replace")

    def create(self, config):
        """The real `pybox create`, then delete; asserts what a user of the CLI would check."""
        cid = "fz" + uuid.uuid4().hex[:10]
        code, err = self.pybox("create", "--bundle", self.bundle, cid)
        assert code in (0, 1), f"exit status {code}: {err}"
        check_one_line(err, code)
        if os.environ.get("PYBOX_FUZZ_SHOW"):  # with --hypothesis-show-statistics: the messages
            event(err.replace(cid, "ID").strip()[:150])
        if code == 1:
            assert os.listdir(self.state) == [] if os.path.isdir(self.state) else True, "state left behind"
        else:
            code, err = self.pybox("delete", "--force", cid)
            assert code == 0, err
        self.check_nothing_left()
        return code

    def check_nothing_left(self):
        if os.path.isdir(self.state):
            assert os.listdir(self.state) == [], "state left behind"
        with open("/proc/self/mountinfo") as f:
            assert not [line for line in f if self.base in line.split()[4]], "mounts left behind"
        assert not processes_rooted_in(self.rootfs), "processes left behind"
        assert not self.processes(), "processes left behind in the container's cgroup"
        assert not [d for d in own_cgroup_dirs(self.cgroups_path) if os.path.isdir(d)], "cgroups left behind"


    def processes(self):
        """Live processes in the containers' cgroup (a read-only root hides where theirs is).
        Zombies are left out: killed inits are reparented to pid 1, which reaps them when it will."""
        found = []
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    if self.cgroups_path not in f.read():
                        continue
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(pid))
            except (OSError, ValueError, IndexError):
                pass
        return found


def check_one_line(err, code):
    lines = err.strip().splitlines()
    if code == 0:
        assert not lines or len(lines) == 1, err
    else:
        assert len(lines) == 1, f"not one line: {err!r}"
    assert not PYTHON_TEXT.search(err), f"raw Python text: {err!r}"


def paths_in(node, prefix=()):
    """Every member and element of a config (long arrays: their ends and middle only)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from paths_in(value, prefix + (key,))
    elif isinstance(node, list):
        picks = range(len(node)) if len(node) <= 3 else sorted({0, len(node) // 2, len(node) - 1})
        for i in picks:
            yield prefix + (i,)
            yield from paths_in(node[i], prefix + (i,))


def schema_paths(node, prefix=()):
    """Every path the runtime spec defines (arrays: their first element; maps: a member "k")."""
    kind = node[0] if isinstance(node, tuple) else None
    if kind == "obj":
        for key, sub in node[1].items():
            yield prefix + (key,)
            yield from schema_paths(sub, prefix + (key,))
    elif kind in ("arr", "map"):
        part = 0 if kind == "arr" else "k"
        yield prefix + (part,)
        yield from schema_paths(node[1], prefix + (part,))


def put(config, path, value):
    """Set (or with DELETE remove) the member at path, making the objects and arrays on the way."""
    node = config
    for i, part in enumerate(path[:-1]):
        container = [] if isinstance(path[i + 1], int) else {}
        if isinstance(node, dict):
            if not isinstance(node.get(part), type(container)):
                node[part] = container
            node = node[part]
        else:
            if part >= len(node):
                node.append(container)
                part = len(node) - 1
            if not isinstance(node[part], type(container)):
                node[part] = container
            node = node[part]
    last = path[-1]
    if isinstance(node, dict):
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    elif last < len(node):
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    elif value is not DELETE:
        node.append(value)


def schema_at(node, path):
    """The schema table's entry for path, or None where the spec defines nothing."""
    for part in path:
        kind = node[0] if isinstance(node, tuple) else None
        if kind == "obj" and isinstance(part, str):
            node = node[1].get(part)
        elif kind == "map" and isinstance(part, str) or kind == "arr" and isinstance(part, int):
            node = node[1]
        else:
            return None
    return node


def edge_values(node):
    """Values of the right JSON type that sit at the edges of what the field takes."""
    kind = node[0] if isinstance(node, tuple) else node
    if kind == "int":
        _, lo, hi = node
        return [lo, hi, lo + 1, hi - 1, 0, 1]
    if kind in (schema.STR, schema.TEXT):
        return ["", "/", "BOGUS", "/dev/null", "..", "a" * 5000, "/proc/self/ns/net", "é"]
    if kind == schema.BOOL:
        return [True, False]
    return {"obj": [{}], "map": [{}], "arr": [[]]}.get(kind, WRONG_TYPES)


OPERATIONS = ["type"] * 3 + ["edge"] * 4 + ["huge", "negative", "string", "string", "delete", "delete", "null",
                                            "deep"]


@st.composite
def mutations(draw, paths, table=None):
    found = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(OPERATIONS))
        value = {"type": st.sampled_from(WRONG_TYPES), "huge": st.sampled_from(HUGE),
                 "negative": st.sampled_from(NEGATIVE), "string": st.sampled_from(STRINGS),
                 "delete": st.just(DELETE), "null": st.none(), "deep": st.just(DEEP),
                 "edge": st.sampled_from(edge_values(schema_at(table or schema.CONFIG, path)))}[operation]
        value = draw(value)
        found.append((path, value if value is DELETE else copy.deepcopy(value)))  # the pools are shared
    return found


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory, busybox_rootfs):
    return Fuzz(tmp_path_factory.mktemp("fuzz"), busybox_rootfs)


def test_the_unmutated_configs_run(fuzz):
    for name, config in fuzz.configs.items():
        fuzz.write(config)
        load_bundle(fuzz.bundle)
        assert fuzz.create(copy.deepcopy(config)) == 0, name


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_mutated_configs_give_one_line_or_a_container(fuzz, data):
    name = data.draw(st.sampled_from(sorted(fuzz.configs)), label="config")
    config = copy.deepcopy(fuzz.configs[name])
    for path, value in data.draw(mutations(fuzz.paths[name]), label="mutations"):
        put(config, path, value)
    fuzz.write(config)
    try:
        loaded = load_bundle(fuzz.bundle)  # what create runs before anything else
    except PyboxError as err:
        check_one_line(str(err), 1)
        assert str(err).startswith(("config.json: ", "bundle ")), str(err)
        valid = False
    else:
        valid = True
        if (loaded.get("linux") or {}).get("cgroupsPath") != fuzz.cgroups_path:
            return  # a cgroup elsewhere on the host: not for a fuzz test to create
    if valid or data.draw(st.integers(0, 5), label="sample refused one") == 0:
        event(f"{'valid' if valid else 'refused'}, create exit status {fuzz.create(config)}")


@pytest.fixture(scope="module")
def execs(tmp_path_factory, busybox_rootfs):
    """A container from pybox's spec running sleep, for exec (its own bundle and state)."""
    fuzz = Fuzz(tmp_path_factory.mktemp("fuzz-exec"), busybox_rootfs)
    config = copy.deepcopy(fuzz.configs["pybox"])
    config["process"]["args"] = ["sleep", "1000"]
    fuzz.write(config)
    fuzz.cid = "fzexec" + uuid.uuid4().hex[:6]
    assert fuzz.pybox("run", "--detach", "--bundle", fuzz.bundle, fuzz.cid)[0] == 0
    yield fuzz
    fuzz.pybox("delete", "--force", fuzz.cid)
    fuzz.check_nothing_left()


@settings(max_examples=max(EXAMPLES // 4, 20), **SETTINGS)
@given(data=st.data())
def test_mutated_exec_processes_give_one_line_or_run(execs, data):
    fuzz = execs
    process = copy.deepcopy(fuzz.configs["pybox"]["process"])
    paths = sorted(set(paths_in(process)) | set(schema_paths(schema.PROCESS)), key=repr)
    for path, value in data.draw(mutations(paths, schema.PROCESS), label="mutations"):
        put(process, path, value)
    text = json.dumps(process).replace(json.dumps(DEEP), "[" * 300 + "]" * 300)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=fuzz.base) as f:
        f.write(text)
        f.flush()
        code, err = fuzz.pybox("exec", "--process", f.name, fuzz.cid)
    if code not in (0, 1):  # the process ran: its own exit status
        assert not PYTHON_TEXT.search(err), err
    else:
        check_one_line(err, code)
    pids = fuzz.processes()
    assert len(pids) == 1, f"exec left processes: {pids}"


# Item 3 of the issue, against runc on the same bundle: an id of -1 (or 4294967295, the same
# uid_t) is "no change" to setresuid/setresgid/setgroups, so the process would stay root.
RUNC_REFUSES = [
    ("process.user.uid", -1), ("process.user.uid", 4294967295), ("process.user.gid", -1),
    ("process.user.gid", 4294967295), ("process.user.additionalGids", [-1]),
    ("process.user.additionalGids", [4294967295]),
    ("process.noNewPrivileges", "no"),  # runc: cannot unmarshal string into ... of type bool
    ("process.terminal", "false"),
    # Wrong JSON types elsewhere, each refused by runc's json.Unmarshal into the spec's Go types.
    ("process.capabilities.bounding", ["CAP_KILL", 5]),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": "1024", "hard": 1024}]),
    ("process.user.umask", -1),
    ("process.oomScoreAdj", 1.5),
    ("root.readonly", "yes"),
    ("linux.namespaces", [{"type": 5}]),
    ("mounts", [{"destination": "/x", "type": "tmpfs", "options": [5]}]),
    ("linux.resources", {"memory": {"limit": "1g"}}),
    ("linux.resources", {"pids": {"limit": 1.5}}),
    ("linux.resources", {"devices": [{"allow": "yes", "access": "rwm"}]}),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": "1", "minor": 3}]),
    ("linux.uidMappings", [{"containerID": -1, "hostID": 0, "size": 1}]),
    ("linux.sysctl", {"net.ipv4.ip_forward": 1}),
    ("linux.seccomp", {"defaultAction": 5}),
    ("hooks", {"prestart": [{"path": "/bin/true", "args": "true"}]}),
    ("annotations", {"a": 1}),
]


@pytest.mark.parametrize("field, value", RUNC_REFUSES)
def test_ids_and_types_runc_refuses_are_refused(fuzz, field, value):
    config = copy.deepcopy(fuzz.configs["runc"])
    config["process"]["args"] = ["id"]
    put(config, tuple(field.split(".")), value)
    fuzz.write(config)
    code, err = fuzz.pybox("run", "--bundle", fuzz.bundle, "fzid" + uuid.uuid4().hex[:6])
    assert code == 1
    assert err.strip().startswith(f"pybox: config.json: {field}") and len(err.strip().splitlines()) == 1, err
    runc_root = os.path.join(fuzz.base, "runc")
    cid = "fzrunc" + uuid.uuid4().hex[:6]
    try:
        runc = subprocess.run(["runc", "--root", runc_root, "run", "--bundle", fuzz.bundle, cid],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["runc", "--root", runc_root, "delete", "--force", cid], capture_output=True, timeout=30)
    assert runc.returncode != 0 and "uid=0" not in runc.stdout, (runc.stdout, runc.stderr)
    fuzz.check_nothing_left()


def test_exec_with_uid_minus_one_is_refused(execs):
    fuzz = execs
    process = copy.deepcopy(fuzz.configs["pybox"]["process"])
    process.update(args=["id", "-u"], user={"uid": -1, "gid": 0})
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=fuzz.base) as f:
        json.dump(process, f)
        f.flush()
        code, err = fuzz.pybox("exec", "--process", f.name, fuzz.cid)
    assert code == 1 and err.strip() == "pybox: exec: process.user.uid: must be 0 to 4294967294, not -1"
    code, err = fuzz.pybox("exec", "--user", "4294967295", fuzz.cid, "id", "-u")
    assert code == 1 and len(err.splitlines()) == 1 and "4294967295" in err and "0..4294967294" in err


def test_deeply_nested_config_is_one_line(fuzz):
    config = copy.deepcopy(fuzz.configs["pybox"])
    config["annotations"] = {"deep": DEEP}
    text = json.dumps(config).replace(json.dumps(DEEP), "[" * 100_000 + "]" * 100_000)
    with open(os.path.join(fuzz.bundle, "config.json"), "w") as f:
        f.write(text)
    code, err = fuzz.pybox("create", "--bundle", fuzz.bundle, "fzdeep")
    assert code == 1
    assert err.strip() == "pybox: config.json: nested too deeply (more than 200 levels of arrays and objects)"
    fuzz.check_nothing_left()
