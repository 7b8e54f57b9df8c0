"""docker run's flags and the runc/docker dispatch, without containers."""

import os

import pytest

from pybox.errors import PyboxError
from pybox.runtime.commands.run import is_runc_form
from pybox.engine import options
from pybox.engine.bundle import command_line
from pybox.engine.dispatch import words_of


def test_combined_short_switches_stop_at_the_image():
    argv = ["-it", "--rm", "-e", "-dit", "busybox", "ls", "-it"]
    assert options.expand_short(options.run_parser, argv) == \
        ["-i", "-t", "--rm", "-e", "-dit", "busybox", "ls", "-it"]


def test_parse_run_collects_repeats_and_the_command():
    v = options.parse_run(["-dit", "-e", "A=1", "--env=B=2", "-p", "80:80", "--name", "x", "img", "sh", "-c", "ls -l"])
    assert (v["detach"], v["interactive"], v["tty"]) == (True, True, True)
    assert v["env"] == ["A=1", "B=2"] and v["publish"] == ["80:80"]
    assert (v["image"], v["command"]) == ("img", ["sh", "-c", "ls -l"])


@pytest.mark.parametrize("text, value", [("256m", 256 << 20), ("1g", 1 << 30), ("1.5k", 1536),
                                         ("4096", 4096), ("64MB", 64 << 20)])
def test_sizes(text, value):
    assert options.parse_bytes(text, "--memory") == value


@pytest.mark.parametrize("text", ["", "0", "-1m", "lots", "12q"])
def test_bad_sizes_name_the_flag(text):
    with pytest.raises(PyboxError, match="--memory"):
        options.parse_bytes(text, "--memory")


def test_env_from_file_flags_and_the_host(tmp_path, monkeypatch):
    env_file = tmp_path / "env"
    env_file.write_text("# skip me\nA=from file\n\nB=1\n")
    monkeypatch.setenv("FROM_HOST", "yes")
    v = {"env_file": [str(env_file)], "env": ["B=2", "FROM_HOST", "UNSET_HERE_XYZ"]}
    assert options.parse_env(v) == ["A=from file", "B=1", "B=2", "FROM_HOST=yes"]


def test_volumes_and_tmpfs(tmp_path):
    class Store:
        def path(self, *parts):
            return os.path.join(tmp_path, *parts)
    bind = options.parse_volume(f"{tmp_path}:/data:ro", Store())
    assert bind == {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["rbind", "ro"]}
    named = options.parse_volume("cache:/cache", Store())
    assert named["source"] == str(tmp_path / "volumes" / "cache" / "_data")
    assert os.path.isdir(named["source"])
    for bad in ("../x:/d", "x", "/nonexistent-xyz:/d", f"{tmp_path}:rel", f"{tmp_path}:/d:rx"):
        with pytest.raises(PyboxError, match="volume|container name"):
            options.parse_volume(bad, Store())
    assert options.parse_tmpfs("/run:size=1m")["options"][-1] == "size=1m"


def test_ulimit_and_add_host():
    assert options.parse_ulimit("nofile=10:20") == {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}
    assert options.parse_ulimit("nproc=5")["hard"] == 5
    assert options.parse_add_host("db:10.0.0.1") == ("db", "10.0.0.1")
    with pytest.raises(PyboxError):
        options.parse_add_host("db:nowhere")
    with pytest.raises(PyboxError):
        options.parse_ulimit("nofile=lots")


@pytest.mark.parametrize("entrypoint, command, args", [
    (None, [], ["/entry", "default"]),
    (None, ["mine"], ["/entry", "mine"]),
    ("sh", [], ["sh"]),
    ("sh", ["-c", "x"], ["sh", "-c", "x"]),
])
def test_entrypoint_and_command_as_docker_combines_them(entrypoint, command, args):
    cfg = {"Entrypoint": ["/entry"], "Cmd": ["default"]}
    assert command_line(cfg, {"entrypoint": entrypoint, "command": command}) == args


def test_runc_form_of_run_is_recognised_by_its_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_runc_form(["--bundle", "/b", "id"])
    assert is_runc_form(["-b", "/b", "--detach", "id"])
    assert is_runc_form(["--keep", "id"])
    assert not is_runc_form(["busybox", "ls", "--keep"])  # the container's own flags
    assert not is_runc_form(["-d", "busybox"])  # no ./config.json


def test_runc_form_of_run_without_bundle_needs_a_runtime_config_here(tmp_path, monkeypatch):
    """`run [-d] WORD` is runc's only next to an OCI config.json and when WORD cannot be docker's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYBOX_STORAGE", str(tmp_path / "empty-store"))
    (tmp_path / "config.json").write_text('{"name": "some project", "version": 2}')
    assert not is_runc_form(["ctr1"])  # a config.json, but not a runtime's
    (tmp_path / "config.json").write_text('{"ociVersion": "1.0.2-dev", "process": {}}')
    assert is_runc_form(["ctr1"]) and is_runc_form(["-d", "ctr1"]) and is_runc_form(["--detach=true", "ctr1"])
    assert not is_runc_form(["--rm", "ctr1"])  # runc's run has no --rm: docker's
    assert not is_runc_form(["-it", "ctr1"])
    assert not is_runc_form(["--network", "none", "ctr1"])
    assert not is_runc_form(["alpine:3.19"]) and not is_runc_form(["quay.io/x/y"])  # image references
    assert not is_runc_form(["ctr1", "echo", "hi"])  # a command: docker's


def test_words_skip_option_values():
    assert words_of(["-e", "A=1", "--tty", "ctr", "ls"], valued=("-e",)) == ["ctr", "ls"]
    assert words_of(["ctr", "-9"]) == ["ctr", "-9"]
