"""`pybox completion bash|zsh`: the script sourced in a real bash, its function called as bash's
programmable completion calls it (COMP_WORDS, COMP_CWORD), COMPREPLY read back."""

import os
import shutil
import subprocess

import pytest

from integration.conftest import PYBOX
from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)


def completions(docker, tmp_path, *words):  # noqa: F811
    script = tmp_path / "pybox.bash"
    script.write_text(docker.out("completion", "bash"))
    array = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (f"source {script}; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; _pybox; "
               "printf '%s\\n' \"${COMPREPLY[@]}\"")
    env = dict(docker.env, PATH=os.path.dirname(PYBOX) + ":" + os.environ["PATH"])
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.parametrize("words, expected", [
    (["pybox", "ki"], ["kill"]),
    (["pybox", "st"], ["start", "stats", "stop"]),
    (["pybox", "--root", "/tmp/x", "res"], ["restart"]),
    (["pybox", "--ro"], ["--root"]),
    (["pybox", "ps", "--fi"], ["--filter"]),
    (["pybox", "run", "--mem"], ["--memory"]),
    (["pybox", "run", "-v", ""], []),                 # an option's value: bash's file completion
    (["pybox", "image", "p"], ["prune", "pull", "push"]),
    (["pybox", "runtime", "create", "--b"], ["--bundle"]),
    (["pybox", "seccomp", "compile", "--o"], ["--output"]),
    (["pybox", "nosuch", ""], []),
])
def test_commands_and_options(docker, tmp_path, words, expected):  # noqa: F811
    assert completions(docker, tmp_path, *words) == expected


def test_container_and_image_names(docker, tmp_path):  # noqa: F811
    docker("run", "--network", "none", "--name", "web1", "busybox", "true")
    docker("run", "--network", "none", "--name", "web2", "busybox", "true")
    docker("run", "--network", "none", "--name", "db", "busybox", "true")
    assert completions(docker, tmp_path, "pybox", "rm", "we") == ["web1", "web2"]
    assert completions(docker, tmp_path, "pybox", "logs", "") == ["db", "web1", "web2"]
    assert completions(docker, tmp_path, "pybox", "kill", "-s", "KILL", "d") == ["db"]
    assert "busybox" in completions(docker, tmp_path, "pybox", "run", "--rm", "busy")
    assert completions(docker, tmp_path, "pybox", "run", "busybox", "") == []  # the command: files
    assert "docker.io/library/busybox:latest" in completions(docker, tmp_path, "pybox", "rmi", "dock")


def test_zsh_script(docker, tmp_path):  # noqa: F811
    text = docker.out("completion", "zsh")
    assert text.startswith("#compdef pybox\n") and "pybox completion --complete" in text
    if shutil.which("zsh"):
        script = tmp_path / "_pybox"
        script.write_text(text)
        assert subprocess.run(["zsh", "-n", str(script)], timeout=30).returncode == 0


def test_bad_shell_is_one_line(docker):  # noqa: F811
    result = docker("completion", "fish", check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "bash or zsh" in result.stderr
