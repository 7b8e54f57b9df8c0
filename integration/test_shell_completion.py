"""`pybox completion bash|zsh`: the script sourced in a real bash, its function called as bash's
programmable completion calls it (COMP_WORDS, COMP_CWORD), COMPREPLY read back; and the zsh
script in a real interactive zsh on a pty, after compinit, with TAB typed as a person types it
(every read there has a deadline; zsh is killed if it outlives the test)."""

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


@pytest.fixture
def zsh(docker, tmp_path):  # noqa: F811
    """An interactive zsh (no rc files) on a pty, compinit run with the script on its $fpath."""
    from integration.test_frontend_tty import Terminal
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed (scripts/install.sh --test installs it)")
    (tmp_path / "fpath").mkdir()
    (tmp_path / "fpath" / "_pybox").write_text(docker.out("completion", "zsh"))
    env = dict(docker.env, PATH=os.path.dirname(PYBOX) + ":/usr/bin:/bin", HOME=str(tmp_path), TERM="xterm")
    env.pop("EDITOR", None), env.pop("VISUAL", None)  # emacs keys: Ctrl-A, Ctrl-U
    term = Terminal([shutil.which("zsh"), "-f", "-i"], env)
    try:
        term.type(f"PS1='zsh> '; fpath=({tmp_path}/fpath $fpath); autoload -Uz compinit && compinit -u -D;"
                  " echo ready-$((1+1))\r")
        term.expect("ready-2", timeout=20)
        yield term
        term.type("exit\r")
        assert term.exit_status(timeout=10) == 0
    finally:
        try:
            os.kill(term.pid, 9)
            os.waitpid(term.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def completed_line(term, typed, timeout=20):
    """Type a command line with TABs in it, then print what zsh made of it (Ctrl-A, `echo got:`)."""
    import re
    import select
    import time
    term.seen = b""
    term.type(typed + "\x01echo got: \r")
    deadline = time.monotonic() + timeout
    while True:
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", term.seen.decode(errors="replace"))
        found = re.search(r"\ngot: ([^\r\n]*)\r\n(?s:.*)zsh> ", plain)  # echo's line, then the prompt
        if found:
            return found.group(1)
        left = deadline - time.monotonic()
        assert left > 0, f"no completed line within {timeout}s; saw {term.seen!r}"
        if select.select([term.fd], [], [], left)[0]:
            term.seen += os.read(term.fd, 4096)


def test_zsh_completes_through_a_terminal(docker, zsh, tmp_path):  # noqa: F811
    """compinit, then TAB as a person presses it: commands, options, container names, an
    option's value by zsh's own file completion, and a listing when the prefix is ambiguous."""
    docker("create", "--network", "none", "--name", "web1", "busybox", "true")
    docker("create", "--network", "none", "--name", "db", "busybox", "true")
    assert completed_line(zsh, "pybox ki\t") == "pybox kill"
    assert completed_line(zsh, "pybox ru\t") == "pybox run"  # run and runtime: the common part
    assert completed_line(zsh, "pybox run --mem\t") == "pybox run --memory"
    assert completed_line(zsh, "pybox logs w\t") == "pybox logs web1"
    assert completed_line(zsh, "pybox --root /tmp/x kill -s KILL d\t") == "pybox --root /tmp/x kill -s KILL db"
    assert completed_line(zsh, "pybox image pu\t") == "pybox image pu"  # pull and push
    (tmp_path / "volume-dir").mkdir()
    # zsh took the slash it added away again when Ctrl-A came (AUTO_REMOVE_SLASH)
    assert completed_line(zsh, f"pybox run -v {tmp_path}/volume-d\t") == f"pybox run -v {tmp_path}/volume-dir"
    zsh.seen = b""
    zsh.type("pybox ru\t\t")
    zsh.expect("runtime", timeout=20)  # the second TAB lists the candidates
    zsh.type("\x15")  # Ctrl-U: the line is empty again
    assert completed_line(zsh, "pybox pau\t") == "pybox pause"


def test_zsh_script_sourced_after_compinit(docker, zsh, tmp_path):  # noqa: F811
    """`source <(pybox completion zsh)` (the script not on $fpath) registers itself with compdef."""
    (tmp_path / "sourced.zsh").write_text(docker.out("completion", "zsh"))
    zsh.type(f"fpath=(${{fpath:#{tmp_path}/fpath}}); unfunction _pybox 2>/dev/null; compdef -d pybox;"
             f" source {tmp_path}/sourced.zsh; echo sourced-$((1+1))\r")
    zsh.expect("sourced-2", timeout=20)
    assert completed_line(zsh, "pybox sto\t") == "pybox stop"


def test_bad_shell_is_one_line(docker):  # noqa: F811
    result = docker("completion", "fish", check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "bash or zsh" in result.stderr
