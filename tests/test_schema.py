"""config.json's JSON types (runtime/schema.py), checked through spec.validate as create checks them."""

import copy

import pytest

from pybox.errors import PyboxError
from pybox.runtime import schema
from pybox.runtime.defaults import DEFAULT_CAPS, default_spec
from pybox.runtime.spec import _validate_process, validate
from pybox.seccomp import default_profile


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return str(tmp_path)


def config_with_seccomp():
    config = default_spec()
    config["linux"]["seccomp"] = default_profile(DEFAULT_CAPS)  # Docker's default profile
    return config


def refusal(config, bundle):
    with pytest.raises(PyboxError) as err:
        validate(config, bundle)
    return str(err.value)


def test_configs_with_dockers_default_profile_are_valid(bundle):
    validate(config_with_seccomp(), bundle)


@pytest.mark.parametrize("field, value, message", [
    # uid/gid -1 is "no change" to setresuid/setresgid: the process would keep root.
    ("process.user.uid", -1, "process.user.uid: must be 0 to 4294967294, not -1"),
    ("process.user.uid", 4294967295, "process.user.uid: must be 0 to 4294967294, not 4294967295"),
    ("process.user.gid", -1, "process.user.gid: must be 0 to 4294967294, not -1"),
    ("process.user.gid", 4294967295, "process.user.gid: must be 0 to 4294967294"),
    ("process.user.additionalGids", [5, -1], "process.user.additionalGids[1]: must be 0 to 4294967294"),
    ("process.user.additionalGids", [4294967295], "process.user.additionalGids[0]: must be 0 to"),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "uid": -1}],
     "linux.devices[0].uid: must be 0 to 4294967294"),
])
def test_ids_that_mean_no_change_are_refused(bundle, field, value, message):
    config = default_spec()
    parent, key = _parent(config, field)
    parent[key] = value
    assert refusal(config, bundle).startswith(f"config.json: {message}")


@pytest.mark.parametrize("mapping, message", [
    ({"containerID": -1, "hostID": 100000, "size": 1}, "containerID: must be 0 to 4294967294, not -1"),
    ({"containerID": 0, "hostID": 4294967295, "size": 1}, "hostID: must be 0 to 4294967294"),
    ({"containerID": 0, "hostID": 100000, "size": -1}, "size: must be 1 to 4294967295, not -1"),
    ({"containerID": 0, "hostID": 100000, "size": 1.0}, "size: must be an integer, not a number"),
    ({"containerID": 0, "hostID": 100000}, "size: missing"),
])
def test_id_mappings(bundle, mapping, message):
    config = default_spec()
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [mapping]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1}]
    assert refusal(config, bundle).startswith(f"config.json: linux.uidMappings[0].{message}")


@pytest.mark.parametrize("mapping, message", [
    ({"containerID": 0, "hostID": 4294967000, "size": 1000}, "hostID 4294967000 + size 1000 goes past id 4294967294"),
    ({"containerID": 1, "hostID": 0, "size": 4294967295}, "containerID 1 + size 4294967295 goes past id 4294967294"),
])
def test_id_mapping_ranges_end_before_minus_one(bundle, mapping, message):
    config = default_spec()
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1}]
    config["linux"]["gidMappings"] = [mapping]
    assert refusal(config, bundle) == f"config.json: linux.gidMappings[0]: {message}"
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 4294967294 - 999, "size": 1000}]
    validate(config, bundle)


@pytest.mark.parametrize("field, value, message", [
    # runc: "json: cannot unmarshal string into Go struct field Process.process.noNewPrivileges of type bool"
    ("process.noNewPrivileges", "no", "process.noNewPrivileges: must be true or false, not a string"),
    ("process.terminal", 0, "process.terminal: must be true or false, not an integer"),
    ("root.readonly", "false", "root.readonly: must be true or false, not a string"),
    ("process.capabilities.bounding", ["CAP_KILL", "CAP_CHOWN", 7],
     "process.capabilities.bounding[2]: must be a string, not an integer"),
    ("process.capabilities.effective", "CAP_KILL", "process.capabilities.effective: must be an array, not a string"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": "1024", "hard": 1024}],
     "process.rlimits[0].soft: must be an integer, not a string"),
    ("process.rlimits", [{"type": 7, "soft": 1, "hard": 1}], "process.rlimits[0].type: must be a string"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2 ** 64}],
     "process.rlimits[0].hard: must be 0 to 18446744073709551615, not 18446744073709551616"),
    ("process.args", ["sh", "-c", "a\0b"], "process.args[2]: must not contain a NUL byte"),
    ("process.env", ["A=\ud800"], "process.env[0]: must be valid UTF-8 text"),
    ("process.cwd", ["/"], "process.cwd: must be a string, not an array"),
    ("process.oomScoreAdj", 2 ** 200, "process.oomScoreAdj: must be -9223372036854775808 to 9223372036854775807, "
                                      "not a larger number"),
    ("process.consoleSize", {"height": 70000, "width": 80}, "process.consoleSize.height: must be 0 to 65535"),
    ("process.user.umask", 2 ** 40, "process.user.umask: must be 0 to 4095"),
    ("process.scheduler", {"policy": "SCHED_OTHER", "priority": -1}, "process.scheduler.priority: must be 0 to 99"),
    ("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 8}, "process.ioPriority.priority: must be 0 to 7"),
    ("linux.namespaces", [{"type": ["pid"]}], "linux.namespaces[0].type: must be a string, not an array"),
    ("linux.namespaces", ["pid"], "linux.namespaces[0]: must be an object, not a string"),
    ("linux.sysctl", {"net.ipv4.ip_forward": 1}, "linux.sysctl.net.ipv4.ip_forward: must be a string, not an integer"),
    ("linux.sysctl", {"net.a\0b": "1"}, "linux.sysctl['net.a\\x00b']: the name must not contain a NUL byte"),
    ("linux.sysctl", {"a\nb": 1}, "linux.sysctl['a\\nb']: must be a string"),  # the message stays one line
    ("linux.maskedPaths", [None], "linux.maskedPaths[0]: must be a string, not null"),
    ("mounts", [{"destination": "/x", "type": "tmpfs", "options": ["size=1m", 5]}],
     "mounts[0].options[1]: must be a string, not an integer"),
    ("mounts", [{"type": "tmpfs"}], "mounts[0].destination: missing"),
    ("hooks", {"prestart": [{"path": "/bin/true", "args": "true"}]}, "hooks.prestart[0].args: must be an array"),
    ("hooks", {"poststop": [{"path": "/bin/true", "env": [1]}]}, "hooks.poststop[0].env[0]: must be a string"),
    ("hooks", {"poststop": [{"path": "/bin/true", "timeout": 2 ** 40}]}, "hooks.poststop[0].timeout: must be 1 to"),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": 2 ** 40, "minor": 0}],
     "linux.devices[0].major: must be 0 to 4294967295"),
    ("linux.resources.memory", {"limit": "1g"}, "linux.resources.memory.limit: must be an integer, not a string"),
    ("linux.resources.memory", {"swappiness": -1}, "linux.resources.memory.swappiness: must be 0 to"),
    ("linux.resources.cpu", {"cpus": 3}, "linux.resources.cpu.cpus: must be a string, not an integer"),
    ("linux.resources.devices", [{"allow": "yes"}], "linux.resources.devices[0].allow: must be true or false"),
    ("linux.resources.blockIO", {"weight": 70000}, "linux.resources.blockIO.weight: must be 0 to 65535"),
    ("linux.resources.unified", {"memory.max": 5}, "linux.resources.unified.memory.max: must be a string"),
    ("linux.resources.pids", {"limit": 1.5}, "linux.resources.pids.limit: must be an integer, not a number"),
    ("annotations", {"a": ["b"]}, "annotations.a: must be a string, not an array"),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", 3], "action": "SCMP_ACT_LOG"}]},
     "linux.seccomp.syscalls[0].names[1]: must be a string, not an integer"),
    ("linux.seccomp", {"defaultAction": 5}, "linux.seccomp.defaultAction: must be a string"),
    ("linux.seccomp", {"syscalls": []}, "linux.seccomp.defaultAction: missing"),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "archMap": {"x86_64": []}},
     "linux.seccomp.archMap: must be an array, not an object"),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": -1, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index: must be 0 to"),
    ("linux.timeOffsets", {"monotonic": {"secs": "1"}}, "linux.timeOffsets.monotonic.secs: must be an integer"),
    ("linux", [], "linux: must be an object, not an array"),
    ("process", "sh", "process: must be an object, not a string"),
])
def test_wrong_types_name_their_path(bundle, field, value, message):
    config = config_with_seccomp()
    parent, key = _parent(config, field)
    parent[key] = value
    assert refusal(config, bundle).startswith(f"config.json: {message}")


def test_the_whole_config_is_checked_first(bundle):
    config = default_spec()
    config["linux"]["resources"]["memory"] = {"limit": "1g"}  # would only be read after the fork
    config["process"]["cwd"] = "relative"  # a later, semantic check
    assert refusal(config, bundle) == "config.json: linux.resources.memory.limit: must be an integer, not a string"


def test_not_an_object_at_the_top(bundle):
    assert refusal([], bundle) == "config.json: must be an object, not an array"


def test_null_members_count_as_absent_as_in_go(bundle):
    config = default_spec()
    config["process"]["user"]["umask"] = None
    config["process"]["rlimits"] = None
    config["hostname"] = None
    config["mounts"] = None
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "uts"]
    config["linux"]["resources"] = None
    validate(config, bundle)
    assert "umask" not in config["process"]["user"] and "rlimits" not in config["process"]
    assert "hostname" not in config and "resources" not in config["linux"]


def test_unknown_members_are_ignored_as_runc_ignores_them(bundle):
    config = config_with_seccomp()
    config["process"]["futureField"] = {"x": [1, 2]}
    config["linux"]["resources"]["futureController"] = 5
    validate(config, bundle)


def test_exec_process_is_checked_with_the_same_table():
    process = copy.deepcopy(default_spec()["process"])
    process["user"]["uid"] = -1
    with pytest.raises(PyboxError) as err:
        _validate_process(process, "process")
    assert str(err.value) == "exec: process.user.uid: must be 0 to 4294967294, not -1"
    process["user"] = {"uid": 0, "gid": 0, "additionalGids": [4294967295]}
    with pytest.raises(PyboxError) as err:
        _validate_process(process, "process")
    assert str(err.value) == "exec: process.user.additionalGids[0]: must be 0 to 4294967294, not 4294967295"


def test_the_check_is_cheap():
    """It runs on every create: Docker's default profile included, well under a millisecond."""
    import time
    config = config_with_seccomp()
    schema.check_config(config)
    started = time.perf_counter()
    for _ in range(100):
        schema.check_config(config)
    assert (time.perf_counter() - started) / 100 < 0.001


def _parent(config, dotted):
    *parents, key = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    return node, key


# --- the model: the checked config read as objects -------------------------------------------------
def test_the_checked_config_reads_as_attributes_with_absent_members_empty(bundle):
    config = default_spec()
    config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    model = validate(config, bundle)
    assert model.process.args == config["process"]["args"]
    assert model.process.user.uid == 0 and model.process.user.umask is None  # absent scalar: None
    assert model.process.rlimits[0].type == "RLIMIT_NOFILE"
    assert model.process.scheduler.policy is None and not model.process.scheduler  # absent object: empty
    assert model.linux.timeOffsets == {} and model.hooks.poststart == ()  # absent map and array
    assert [m.destination for m in model.mounts][:2] == ["/proc", "/dev"]
    assert model.resources.memory.limit == 64 << 20  # linux.resources, as cgroups reads it
    assert model.resources.devices[0].allow is False  # runc's default rules follow the config's
    assert model.namespaces.has("pid") and not model.namespaces.has("user")
    assert model["process"] is config["process"]  # still the JSON, for hooks and the saved copy
    with pytest.raises(AttributeError):
        _ = model.process.usr  # a typo is an error, not a silent None
    with pytest.raises(AttributeError):
        _ = model.linx


def test_a_keyword_member_reads_with_getattr(bundle):
    config = default_spec()
    config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 7}
    prio = validate(config, bundle).process.ioPriority
    assert getattr(prio, "class") == "IOPRIO_CLASS_IDLE" and prio.priority == 7


def test_configs_other_tools_wrote_load_into_the_model(bundle):
    """runc spec's config (as pybox-runc spec writes it) and one podman generated."""
    import json
    import os
    import shutil
    import subprocess
    runc = shutil.which("runc")
    if runc:
        subprocess.run([runc, "spec", "--bundle", bundle], check=True, timeout=30)
        with open(os.path.join(bundle, "config.json")) as f:
            model = validate(json.load(f), bundle)
        assert model.process.capabilities.bounding and model.linux.maskedPaths
    with open(os.path.join(os.path.dirname(__file__), "..", "integration", "data", "podman_config.json")) as f:
        podman = json.load(f)
    podman["root"]["path"] = os.path.join(bundle, "rootfs")
    model = validate(podman, bundle)
    assert model.process.args and model.linux.seccomp.defaultAction
