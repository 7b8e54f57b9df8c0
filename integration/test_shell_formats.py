"""ps --filter/--format and inspect -f, compared with podman 4.3 on the same containers.

The same three containers are made in pybox and in podman (runc, vfs storage in a temporary
directory): a exited 3 (label app=web), b exited 0 (label app=db), c running (label app=web, a bind
mount). Both are asked the same questions and must give the same answers, except where docker and
podman differ and pybox follows docker (said at each place).
"""

import json
import re
import time

import pytest

from integration.test_runtime_callers import own_memory_cgroup, podman_session, run
from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)

PARENT = f"{own_memory_cgroup()}/pybox-shell2-podman"
# Never the default bridge: it would be made in the host's network namespace.
NONE = ("--network", "none")
PODMAN_RUN = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", PARENT,
              "--network", "none"]


@pytest.fixture(scope="module")
def podman(tmp_path_factory, busybox_rootfs):
    base = tmp_path_factory.mktemp("podman")
    for cmd in podman_session(base, busybox_rootfs, "runc"):
        (base / "shared").mkdir()
        make_three(cmd, "localhost/pybox-bb", str(base / "shared"), PODMAN_RUN)
        # After some earlier tests podman's `run -d` returns with c still "created" (podman's
        # side, with runc): start it, so that the comparison is of running containers.
        if run(*cmd, "inspect", "-f", "{{.State.Status}}", "c").stdout.strip() != "running":
            run(*cmd, "start", "c")
        yield cmd


def make_three(cmd, image, host_dir, extra=()):
    call = cmd if callable(cmd) else (lambda *args, check=True: run(*cmd, *args, check=check))
    call("run", *extra, "--name", "a", "--label", "app=web", image, "sh", "-c", "exit 3", check=False)
    call("run", *extra, "--name", "b", "--label", "app=db", image, "true")
    call("run", *extra, "-d", "--name", "c", "--label", "app=web", "-v", f"{host_dir}:/data",
         image, "sleep", "1000")


@pytest.fixture
def both(docker, podman, tmp_path):  # noqa: F811
    host = tmp_path / "shared"
    host.mkdir()
    make_three(docker, "busybox", str(host), NONE)
    return docker, podman


def ask(tool, *args):
    if isinstance(tool, list):
        return run(*tool, *args).stdout
    return tool.out(*args)


def lines(tool, *args):
    return sorted(line.rstrip() for line in ask(tool, *args).splitlines() if line.strip())


@pytest.mark.parametrize("filters, expected", [
    (["status=exited"], ["a exited", "b exited"]),
    (["label=app=web"], ["a exited", "c running"]),
    (["label=app"], ["a exited", "b exited", "c running"]),
    (["exited=3"], ["a exited"]),
    (["name=^c$"], ["c running"]),
    (["label=app=web", "status=running"], ["c running"]),        # different keys: AND
    (["status=exited", "status=running"], ["a exited", "b exited", "c running"]),  # one key: OR
    (["label=app=db", "label=app=web"], []),                      # labels: every one must match
    (["label=app=web", "label=app"], ["a exited", "c running"]),
])
def test_ps_filters_agree_with_podman(both, filters, expected):
    docker, podman = both
    flags = [word for f in filters for word in ("--filter", f)]
    # podman 4.3's {{.State}} is the status text ("Exited (3) ..."); docker's, and ours, the state word
    mine = lines(docker, "ps", "-a", *flags, "--format", "{{.Names}} {{.State}}")
    theirs = lines(podman, "ps", "-a", *flags, "--format", "{{.Names}}")
    assert mine == expected
    assert theirs == [line.split()[0] for line in expected]


def test_ps_ancestor_filter(both):
    docker, podman = both
    assert lines(docker, "ps", "-a", "--filter", "ancestor=busybox", "--format", "{{.Names}}") == ["a", "b", "c"]
    assert lines(podman, "ps", "-a", "--filter", "ancestor=localhost/pybox-bb", "--format", "{{.Names}}") == \
        ["a", "b", "c"]
    assert lines(docker, "ps", "-a", "--filter", "ancestor=nosuch", "--format", "{{.Names}}") == []


def test_ps_table_template_and_label(both):
    docker, podman = both
    # docker's {{.Label "k"}} (podman 4.3 has no .Label: its .Labels is a map, docker's a string)
    mine = ask(docker, "ps", "-a", "--format", "table {{.Names}}\t{{.State}}\t{{.Label \"app\"}}").splitlines()
    theirs = ask(podman, "ps", "-a", "--format", '{{.Names}} {{index .Labels "app"}}').splitlines()
    assert mine[0].split() == ["NAMES", "STATE", "LABEL"]
    assert sorted(line.split() for line in mine[1:]) == \
        [["a", "exited", "web"], ["b", "exited", "db"], ["c", "running", "web"]]
    assert sorted(line.split() for line in theirs) == [["a", "web"], ["b", "db"], ["c", "web"]]
    # docker's tabwriter: columns padded by 3, at least 10 wide
    assert mine[0].startswith("NAMES     STATE     LABEL")
    ids = ask(docker, "ps", "--format", "{{.ID}}").split()
    assert len(ids) == 1 and len(ids[0]) == 12


@pytest.mark.parametrize("template", [
    "{{.State.Status}} {{.State.ExitCode}}",
    "{{json .State.Running}} {{.State.OOMKilled}}",
    '{{index .Config.Labels "app"}}',
    "{{range .Mounts}}{{.Destination}} {{end}}",
    "{{if .State.Running}}up{{else}}down{{end}}",
    "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "{{with .State}}{{.Status}}{{end}} {{len .Mounts}}",
    '{{printf "%s/%d" .State.Status .State.ExitCode}}',
    "{{.State.Status | printf \"%q\"}}",
])
def test_inspect_templates_agree_with_podman(both, template):
    docker, podman = both
    for name in ("a", "b", "c"):
        mine = ask(docker, "inspect", "-f", template, name)
        theirs = ask(podman, "inspect", "-f", template, name)
        # podman's .Config.Labels also holds the image's labels (none on this image)
        assert mine == theirs, (name, template)


def test_inspect_name_and_state_fields(both):
    docker, podman = both
    # docker's .Name has a leading slash; podman's has none
    assert ask(docker, "inspect", "-f", "{{.Name}}", "a").strip() == "/a"
    assert ask(podman, "inspect", "-f", "{{.Name}}", "a").strip() == "a"
    pid = int(ask(docker, "inspect", "-f", "{{.State.Pid}}", "c"))
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"1000"]
    assert ask(docker, "inspect", "-f", "{{.State.Pid}} {{.State.Error}}|", "a").strip() == "0 |"
    finished = ask(docker, "inspect", "-f", "{{.State.FinishedAt}}", "a").strip()
    assert finished[:4].isdigit() and finished.endswith("Z") and not finished.startswith("0001")
    state = ask(docker, "inspect", "-f", "{{json .State}}", "a")
    assert {"Status", "Running", "Paused", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt",
            "FinishedAt"} <= set(json.loads(state))


@pytest.mark.parametrize("args, words", [
    (["inspect", "-f", "{{.State.Status", "a"], "unclosed action"),
    (["inspect", "-f", "{{.Nope}}", "a"], "can't evaluate field Nope"),
    (["inspect", "-f", "{{nofunc .}}", "a"], 'function "nofunc" not defined'),
    (["ps", "--filter", "colour=red"], "--filter 'colour=red'"),
    (["ps", "--filter", "status=sleepy"], "status='sleepy'"),
    (["ps", "--format", "{{.ID"], "unclosed action"),
])
def test_bad_templates_and_filters_give_one_line(docker, args, words):  # noqa: F811
    docker("run", *NONE, "--name", "a", "busybox", "true")
    result = docker(*args, check=False)
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_images_size_is_the_unpacked_size(docker, podman):  # noqa: F811
    """docker's SIZE is the unpacked layers' size (pybox showed the compressed blobs' before). The
    same rootfs tarball goes into both: podman 4.3 counts the uncompressed tar stream (with its
    512-byte headers), docker and pybox the files (find's sizes here), so pybox's figure is a
    little below podman's."""
    from pybox.images.store import Store
    base = podman[podman.index("--root") + 1].rpartition("/")[0]
    docker("import", f"{base}/bb.tar", "localhost/pybox-bb:latest")
    listed = json.loads(ask(docker, "images", "--format", "json"))
    mine = next(i["Size"] for i in listed if "localhost/pybox-bb:latest" in i["Names"])
    layers = " ".join(Store(docker.storage).get("localhost/pybox-bb:latest").layer_dirs())
    files = run("sh", "-c", f"find {layers} -mindepth 1 ! -type d -printf '%D.%i %s\\n' | sort -u").stdout
    assert mine == sum(int(line.split()[1]) for line in files.splitlines())
    theirs = int(ask(podman, "image", "inspect", "-f", "{{.Size}}", "localhost/pybox-bb"))
    assert 0.8 * theirs < mine <= theirs, (mine, theirs)
    row = [line for line in ask(docker, "images").splitlines() if line.startswith("localhost/pybox-bb")]
    assert row and row[0].split()[-2:] == [f"{mine / 1e6:.3g}", "MB"]


OOM = ["-m", "16m"]  # this host has no swap
HOG = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]  # a 64 MiB buffer in 16 MiB


def test_oom_killed_as_podman_reports_it(docker, podman):  # noqa: F811
    """State.OOMKilled is true after a memory-limit kill (read from the cgroup's oom_kill counter
    when the container exits), false otherwise, as docker reports it. podman 4.3 agrees on the exit
    status (137) but reports OOMKilled false on this host (runc, --cgroup-manager cgroupfs, hybrid
    cgroups; its conmon did not see the OOM event). That differs; docker's answer is the one
    scripts check, and the kernel's counter says the kill was the OOM killer's."""
    run(*podman, "run", *PODMAN_RUN, *OOM, "--name", "oom", "localhost/pybox-bb", *HOG, check=False)
    theirs = ask(podman, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom").split()
    run(*podman, "rm", "-f", "oom")
    docker("run", *NONE, *OOM, "--name", "oom", "busybox", *HOG, check=False)
    docker("run", *NONE, "-d", *OOM, "--name", "oomd", "busybox", *HOG)
    docker("run", *NONE, *OOM, "--name", "fits", "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1")
    deadline = time.monotonic() + 30
    while ask(docker, "inspect", "-f", "{{.State.Status}}", "oomd").strip() != "exited":
        assert time.monotonic() < deadline, "the detached hog did not exit"
        time.sleep(0.1)
    assert theirs[1] == "137"
    for name in ("oom", "oomd"):
        assert ask(docker, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", name).split() == \
            ["true", "137"]
    assert ask(docker, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "fits").split() == \
        ["false", "0"]


def test_logs_of_a_foreground_tty_run(docker, podman):  # noqa: F811
    """`run -t` in the foreground: what the terminal showed is in `logs` afterwards (it was not
    logged at all), with the terminal's CR LF line ends as docker and pybox's detached -t logs show
    them; podman 4.3 logs the same lines but prints them without the CR."""
    script = ["sh", "-c", "echo one; echo two >&2; printf 'no newline'"]
    run(*podman, "run", *PODMAN_RUN, "-t", "--name", "tty1", "localhost/pybox-bb", *script)
    theirs = ask(podman, "logs", "tty1")
    run(*podman, "rm", "-f", "tty1")
    shown = docker.out("run", *NONE, "-t", "--name", "tty1", "busybox", *script)
    assert shown == "one\r\ntwo\r\nno newline"
    assert theirs.rstrip("\n") == shown.replace("\r\n", "\n")
    assert docker.out("logs", "tty1").rstrip("\n") == shown
    assert docker.out("logs", "--tail", "1", "tty1").rstrip("\n") == "no newline"


def test_state_error_after_a_failed_start(docker, podman):  # noqa: F811
    """docker's State.Error holds why the container could not start; the container stays, created,
    with no start time. podman 4.3 keeps it created too, but its State.Error stays empty here."""
    run(*podman, "run", *PODMAN_RUN, "--name", "bad", "localhost/pybox-bb", "/nope", check=False)
    theirs = ask(podman, "inspect", "-f", "{{.State.Status}}|{{.State.Error}}", "bad")
    run(*podman, "rm", "-f", "bad")
    docker("run", *NONE, "--name", "bad", "busybox", "/nope", check=False)
    status, error = ask(docker, "inspect", "-f", "{{.State.Status}}|{{.State.Error}}", "bad").split("|")
    assert theirs.partition("|")[0] == status
    assert status == "created" and "/nope" in error and "no such file or directory" in error  # runc's words
    started = ask(docker, "inspect", "-f", "{{.State.StartedAt}} {{.State.FinishedAt}}", "bad").split()
    assert started == ["0001-01-01T00:00:00Z"] * 2
    docker("run", *NONE, "--name", "good", "busybox", "true")
    assert ask(docker, "inspect", "-f", "{{.State.Error}}|", "good").strip() == "|"
    started, finished = ask(docker, "inspect", "-f", "{{.State.StartedAt}} {{.State.FinishedAt}}", "good").split()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", started) and started <= finished


def test_kill_names_the_missing_container(docker, podman):  # noqa: F811
    result = docker("kill", "nosuch", check=False)
    theirs = run(*podman, "kill", "nosuch", check=False)
    assert "nosuch" in theirs.stderr and theirs.returncode != 0
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no such container: nosuch" in result.stderr
