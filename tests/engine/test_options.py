"""docker run's flags, without containers."""

import os

import pytest

from pybox.errors import PyboxError
from pybox.engine import options
from pybox.engine.bundle import command_line


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


