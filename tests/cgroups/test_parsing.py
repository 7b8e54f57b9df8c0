"""Parsing that needs no kernel: paths, sizes, durations, device rules and resources."""

import pytest

from pybox.cgroups import hierarchy
from pybox.cgroups.resources import Resources
from pybox.cgroups.stats import blkio_entries
from pybox.units import cpu_list
from pybox.errors import PyboxError
from pybox.runtime.commands import events, update


@pytest.mark.parametrize("path, expected", [
    (None, "/own/pybox/c1"),
    ("", "/own/pybox/c1"),
    ("/abs/x", "/abs/x"),
    ("rel/x", "/own/rel/x"),
    ("rel//x/./", "/own/rel/x"),
])
def test_cgroups_path_resolution(path, expected):
    assert hierarchy.resolve(path, "c1", "/own") == expected


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/a/..", "/", "./", 5])
def test_cgroups_path_refusals(path):
    with pytest.raises(PyboxError, match="linux.cgroupsPath"):
        hierarchy.resolve(path, "c1", "/own")


def test_default_path_needs_a_plain_id():
    with pytest.raises(PyboxError, match="container id"):
        hierarchy.resolve(None, "../x", "/own")


@pytest.mark.parametrize("text, size", [
    ("100", 100), ("256m", 256 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("512KiB", 512 << 10),
    ("2mb", 2 << 20), ("1.5k", 1536), ("-1", -1),
])
def test_sizes_in_runcs_forms(text, size):
    assert update.parse_size(text) == size


@pytest.mark.parametrize("text", ["abc", "1x", "-5", "1bb", ""])
def test_bad_sizes(text):
    with pytest.raises(PyboxError, match="invalid size"):
        update.parse_size(text)


def test_update_flags_become_resources():
    _, values = update.parser.parse(["--memory", "256m", "--memory-swap=-1", "--cpu-quota", "-1",
                                     "--cpu-shares", "512", "--cpuset-cpus", "0-1", "--pids-limit", "20",
                                     "c1"])
    assert update.resources_from(values) == {
        "memory": {"limit": 256 << 20, "swap": -1},
        "cpu": {"quota": -1, "shares": 512, "cpus": "0-1"},
        "pids": {"limit": 20}}


def test_update_resources_file_merges_with_flags(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"memory": {"limit": 1000000}, "devices": [{"allow": false}]}')
    _, values = update.parser.parse(["-r", str(path), "--pids-limit", "5", "c1"])
    assert update.resources_from(values) == {"memory": {"limit": 1000000}, "pids": {"limit": 5}}


def test_update_resources_from_stdin():
    _, values = update.parser.parse(["--resources", "-", "c1"])
    assert update.resources_from(values, lambda: '{"pids": {"limit": 9}}') == {"pids": {"limit": 9}}


@pytest.mark.parametrize("text, error", [("{", "invalid JSON"), ("[]", "linux.resources object")])
def test_update_bad_resources_file(text, error):
    _, values = update.parser.parse(["--resources", "-", "c1"])
    with pytest.raises(PyboxError, match=error):
        update.resources_from(values, lambda: text)


@pytest.mark.parametrize("text, seconds", [("5s", 5), ("100ms", 0.1), ("1m30s", 90), ("1.5s", 1.5)])
def test_intervals(text, seconds):
    assert events.parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "s", "0s", "5x"])
def test_bad_intervals(text):
    with pytest.raises(PyboxError, match="--interval"):
        events.parse_interval(text)


def test_device_rules_normalise():
    rules = Resources.parse({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": -1, "access": "wr"}]}).devices
    assert [r.v1_line() for r in rules] == ["a", "c 1:* rw"]


@pytest.mark.parametrize("entry, field", [
    ({"allow": "yes"}, "devices[0].allow"),
    ({"allow": True, "access": "rx"}, "devices[0].access"),
    ({"allow": True, "major": "1"}, "devices[0].major"),
])
def test_bad_device_rules(entry, field):
    with pytest.raises(PyboxError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Resources.parse({"devices": [entry]})


def test_parsers():
    assert cpu_list("0-2,5") == [0, 1, 2, 5]
    assert blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096") == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 0}]


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 100), (512, 59), (2048, 174), (262144, 10000)])
def test_shares_to_weight_matches_runc_and_crun(shares, weight):
    from pybox.cgroups.v2_resources import shares_to_weight
    assert shares_to_weight(shares) == weight


def test_device_program_is_whole_instructions():
    from pybox.cgroups import devices_bpf
    rules = Resources.parse({"devices": [{"allow": True, "type": "c", "major": 1, "minor": 3}]}).devices
    code = devices_bpf.program(rules)
    assert len(code) % 8 == 0 and code[-8] == devices_bpf.EXIT


@pytest.mark.parametrize("resources, field", [
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness"),
    ({"memory": {"limit": "1g"}}, "linux.resources.memory.limit"),
    ({"cpu": {"shares": -1}}, "linux.resources.cpu.shares"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}}, r"linux.resources.blockIO.throttleReadBpsDevice\[0\]"),
    ({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}, r"linux.resources.hugepageLimits\[0\]"),
    ({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}}, r"linux.resources.network.priorities\[0\]"),
    ({"unified": {"../x": "1"}}, "linux.resources.unified"),
    ({"rdma": {"mlx 4": {}}}, "linux.resources.rdma"),
    ({"pids": []}, "linux.resources.pids"),
])
def test_every_resources_field_is_checked_in_the_one_pass(resources, field):
    with pytest.raises(PyboxError, match=field):
        Resources.parse(resources)


@pytest.mark.parametrize("resources, version, field", [
    ({"memory": {"swappiness": 10}}, 2, "memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, 2, "memory.disableOOMKiller"),
    ({"cpu": {"realtimeRuntime": 1000}}, 2, "cpu.realtimeRuntime"),
    ({"network": {"classID": 1}}, 2, "linux.resources.network"),
    ({"unified": {"memory.high": "1"}}, 1, "linux.resources.unified"),
])
def test_what_a_cgroup_version_cannot_do_is_refused_before_anything_is_written(resources, version, field):
    res = Resources.parse(resources)
    with pytest.raises(PyboxError, match=field):
        res.check_for(version)
    res.check_for(3 - version)
