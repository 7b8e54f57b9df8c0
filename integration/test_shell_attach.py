"""`pybox attach` through a real pty, the same keys typed to `podman attach` (4.3, runc) on the
same image: a shell started with -dit answers, Ctrl-P Ctrl-Q detaches and leaves it running,
`exit N` ends the attach with N; a -d container's output streams until it exits. Every read
has a deadline; an attach that outlives one is killed."""

import shutil

from integration.shell import IMAGE, PODMAN_RUN, podman, podman_store, wait_until  # noqa: F401 (fixtures)
from integration.test_frontend_tty import Terminal
from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)


def _sides(docker, podman):
    return [("pybox", docker, ["--network", "none"], "busybox"),
            ("podman", podman, [*PODMAN_RUN, "--network", "none"], IMAGE)]


def _argv(tool, *args):
    argv = tool.argv(*args)
    argv[0] = shutil.which(argv[0]) or argv[0]  # Terminal execs a path
    return argv


def _env(tool):
    import os
    return getattr(tool, "env", None) or dict(os.environ)


def attached(tool, *args):
    """attach on a new pty, once it has put the terminal in raw mode (connected by then)."""
    import termios
    import time
    term = Terminal(_argv(tool, "attach", *args), _env(tool))
    wait_until(lambda: not termios.tcgetattr(term.fd)[3] & termios.ICANON, what="raw mode")
    time.sleep(0.2)
    return term


def _status(tool, name):
    return tool.out("inspect", "-f", "{{.State.Status}}", name).strip()


def test_attach_types_and_exits_like_podman(docker, podman):
    seen = {}
    for side, tool, opts, image in _sides(docker, podman):
        tool("run", "-dit", "--name", "at", *opts, image, "sh")
        term = attached(tool, "at")
        term.type("echo hi-$((40+2))\r")
        term.expect("hi-42")
        term.type("exit 4\r")
        seen[side] = (term.exit_status(), wait_until(lambda t=tool: _status(t, "at") == "exited"),
                      tool.out("inspect", "-f", "{{.State.ExitCode}}", "at").strip())
    # docker's attach ends with the container's status; podman 4.3's says 0 here.
    assert seen["pybox"] == (4, True, "4")
    assert seen["podman"][1:] == (True, "4")


def test_attach_detaches_on_ctrl_p_ctrl_q(docker):
    """docker's detach keys leave the container running; attach again and it still answers.
    (podman 4.3 on this host passes Ctrl-P Ctrl-Q to the shell instead, with or without
    --detach-keys, so there is no podman side here.)"""
    docker("run", "-dit", "--name", "ad", "--network", "none", "busybox", "sh")
    term = attached(docker, "ad")
    term.type("echo hi-$((40+2))\r")
    term.expect("hi-42")
    term.type("\x10\x11")
    assert term.exit_status() == 0
    assert _status(docker, "ad") == "running"
    term = attached(docker, "ad")
    term.type("echo again-$((1+1))\r")
    term.expect("again-2")
    term.type("exit 4\r")
    assert term.exit_status() == 4


def test_attach_with_other_detach_keys(docker):
    docker("run", "-dit", "--name", "ak", "--network", "none", "busybox", "sh")
    term = attached(docker, "--detach-keys", "ctrl-x,q", "ak")
    term.type("\x10\x11echo p-q-$((2+3))\r")  # Ctrl-P Ctrl-Q go through now
    term.expect("p-q-5")
    term.type("\x18q")
    assert term.exit_status() == 0
    assert _status(docker, "ak") == "running"
    assert docker("attach", "--detach-keys", "ctrl-", "ak", check=False).stderr.count("\n") == 1


def test_attach_streams_a_detached_containers_output_like_podman(docker, podman):
    script = "sleep 1; for i in 1 2 3; do echo line$i; sleep 0.2; done; exit 6"
    seen = {}
    for side, tool, opts, image in _sides(docker, podman):
        tool("run", "-d", "--name", "ao", *opts, image, "sh", "-c", script)
        term = Terminal(_argv(tool, "attach", "ao"), _env(tool))
        screen = term.expect("line3")
        seen[side] = ([w for w in screen.split() if w.startswith("line")], term.exit_status())
    assert seen["pybox"] == (["line1", "line2", "line3"], 6)
    assert seen["podman"][0] == seen["pybox"][0]  # podman 4.3's attach ends with 0, not docker's 6


def test_attach_to_a_stopped_container_is_one_line(docker, podman):
    docker("create", "--name", "as", "--network", "none", "busybox", "true")
    podman("create", "--name", "as", IMAGE, "true")
    ours, theirs = docker("attach", "as", check=False), podman("attach", "as", check=False)
    assert ours.returncode != 0 and theirs.returncode != 0
    assert ours.stderr.count("\n") == 1 and "as" in ours.stderr
    assert docker("attach", "nosuch", check=False).stderr.count("\n") == 1


# --- start -a / -ai: attached from the start (docker's and podman's start -a) ----------------
def test_start_attached_gives_output_and_status_like_podman(docker, podman):
    seen = {}
    for side, tool, opts, image in _sides(docker, podman):
        tool("create", "--name", "sa", *opts, image, "sh", "-c", "sleep 0.2; echo out; echo err >&2; exit 5")
        result = tool("start", "-a", "sa", check=False, timeout=30)
        seen[side] = (result.returncode, result.stdout, "err" in result.stderr, _status(tool, "sa"))
    assert seen["pybox"] == seen["podman"] == (5, "out\n", True, "exited")


def test_start_ai_sends_input_and_ends_it_like_podman(docker, podman):
    """-ai: stdin goes to the container and its end closes the container's input (cat ends)."""
    seen = {}
    for side, tool, opts, image in _sides(docker, podman):
        tool("create", "-i", "--name", "sr", *opts, image, "sh", "-c", "read x; echo got-$x; exit 3")
        tool("create", "-i", "--name", "sc", *opts, image, "cat")
        first = tool("start", "-ai", "sr", input="hello\n", check=False, timeout=30)
        second = tool("start", "-a", "-i", "sc", input="one\ntwo\n", check=False, timeout=30)
        seen[side] = (first.returncode, first.stdout, second.returncode, second.stdout)
    assert seen["pybox"] == seen["podman"] == (3, "got-hello\n", 0, "one\ntwo\n")


def test_start_ai_on_a_terminal_like_podman(docker, podman):
    seen = {}
    for side, tool, opts, image in _sides(docker, podman):
        tool("create", "-it", "--name", "st", *opts, image, "sh")
        term = Terminal(_argv(tool, "start", "-ai", "st"), _env(tool))
        term.expect("# ")  # typed earlier, it would be flushed when the terminal goes raw
        term.type("echo hi-$((40+2))\r")
        term.expect("hi-42")
        term.type("exit 4\r")
        seen[side] = (term.exit_status(), _status(tool, "st"))
    assert seen["pybox"] == seen["podman"] == (4, "exited")


def test_start_attached_errors(docker, podman):
    docker("create", "--name", "sn", "--network", "none", "busybox", "nosuch-command")
    docker("create", "--name", "s2", "--network", "none", "busybox", "true")
    ours = docker("start", "-a", "sn", check=False)
    assert ours.returncode == 127 and ours.stderr.count("\n") == 1 and "nosuch-command" in ours.stderr
    assert _status(docker, "sn") == "created"
    podman("create", "--name", "s1", IMAGE, "true")
    podman("create", "--name", "s2", IMAGE, "true")
    ours, theirs = docker("start", "-a", "sn", "s2", check=False), podman("start", "-a", "s1", "s2", check=False)
    assert ours.returncode == theirs.returncode == 125 and ours.stderr.count("\n") == 1
    assert _status(docker, "s2") == "created"  # nothing started
    assert docker("start", "-a", "nosuch", check=False).returncode == 125


def _read_until(proc, text, timeout=15):
    import os
    import select
    import time
    data, deadline = b"", time.monotonic() + timeout
    while text.encode() not in data:
        left = deadline - time.monotonic()
        assert left > 0, data
        if select.select([proc.stdout], [], [], left)[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, data
            data += chunk
    return data


def test_start_attached_passes_signals_like_podman(docker, podman):
    """--sig-proxy (true by default with -a): a SIGINT to `start -a` reaches the container's
    shell, whose trap answers; with --sig-proxy=false it ends start -a and the container runs on."""
    import signal
    import subprocess
    script = 'trap "echo got-int; exit 9" INT; echo ready; while true; do sleep 0.1; done'
    seen = {}
    for side, tool, opts, image in _sides(docker, podman):
        tool("create", "--name", "sg", *opts, image, "sh", "-c", script)
        proc = subprocess.Popen(tool.argv("start", "-a", "sg"), env=_env(tool), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            data = _read_until(proc, "ready\n")
            proc.send_signal(signal.SIGINT)
            data += proc.communicate(timeout=15)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        seen[side] = (proc.returncode, data.decode(), _status(tool, "sg"))
    assert seen["pybox"] == seen["podman"] == (9, "ready\ngot-int\n", "exited")
    docker("create", "--name", "sn", "--network", "none", "busybox", "sh", "-c", script)
    proc = subprocess.Popen(docker.argv("start", "-a", "--sig-proxy=false", "sn"), env=docker.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        _read_until(proc, "ready\n")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert _status(docker, "sn") == "running"
