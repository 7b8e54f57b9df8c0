"""Detached containers and their management: ps, logs, stop, kill, rm, start, restart, exec,
inspect, top, stats, wait, prune; names and id prefixes; the monitor's cost."""

import json
import os
import subprocess
import time

from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)

NONE = ("--network", "none")


def detached(docker, *args, name=None):
    named = ("--name", name) if name else ()
    return docker.out("run", "-d", *named, *NONE, "busybox", *args).strip()


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_detached_run_prints_the_id_and_shows_in_ps(docker):
    cid = detached(docker, "sleep", "60", name="web")
    assert len(cid) == 64
    rows = json.loads(docker.out("ps", "--format", "json"))
    assert [(r["ID"], r["Names"], r["State"], r["Image"]) for r in rows] == [(cid, "web", "running", "busybox")]
    table = docker.out("ps").splitlines()
    assert table[0].split()[:2] == ["CONTAINER", "ID"]
    assert table[1].startswith(cid[:12]) and "Up " in table[1] and table[1].endswith("web")


def test_logs_keep_stdout_and_stderr_and_tail(docker):
    detached(docker, "sh", "-c", "echo one; echo two >&2; echo three", name="talker")
    assert docker.out("wait", "talker") == "0\n"
    result = docker("logs", "talker")
    assert result.stdout == "one\nthree\n" and result.stderr == "two\n"
    detached(docker, "sh", "-c", "seq 1 5", name="counted")
    docker("wait", "counted")
    assert docker.out("logs", "--tail", "2", "counted") == "4\n5\n"


def test_logs_follow_ends_when_the_container_stops(docker):
    detached(docker, "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done", name="counter")
    assert docker.out("logs", "-f", "counter", timeout=20) == "1\n2\n3\n"


def test_stop_sends_the_stop_signal_then_kill(docker):
    detached(docker, "sh", "-c", "trap 'echo bye; exit 4' TERM; while :; do sleep 0.1; done", name="polite")
    time.sleep(0.3)
    docker("stop", "polite")
    assert docker.out("inspect", "-f", "{{.State.ExitCode}}", "polite") == "4\n"
    assert docker.out("logs", "polite") == "bye\n"
    detached(docker, "sleep", "60", name="stubborn")  # pid 1 ignores TERM: killed after -t
    started = time.monotonic()
    docker("stop", "-t", "1", "stubborn")
    assert 0.9 < time.monotonic() - started < 5
    assert "Exited (137)" in docker.out("ps", "-a")


def test_kill_with_a_signal_and_wait(docker):
    detached(docker, "sh", "-c", "trap 'exit 9' USR1; while :; do sleep 0.1; done", name="k")
    time.sleep(0.3)
    assert docker.out("kill", "-s", "USR1", "k") == "k\n"
    assert docker.out("wait", "k") == "9\n"
    detached(docker, "sleep", "60", name="k2")
    docker("kill", "k2")  # docker's default: KILL
    assert docker.out("wait", "k2") == "137\n"


def test_names_and_id_prefixes(docker):
    cid = detached(docker, "sleep", "60", name="named")
    assert docker.out("exec", cid[:5], "echo", "by prefix") == "by prefix\n"
    assert docker.out("exec", "named", "echo", "by name") == "by name\n"
    assert docker.out("inspect", "-f", "{{.Name}}", cid) == "/named\n"
    missing = docker("inspect", "nope-nope", check=False)
    assert missing.returncode == 1 and "no such container" in missing.stderr


def test_rm_refuses_a_running_container_unless_forced(docker):
    detached(docker, "sleep", "60", name="busy")
    refused = docker("rm", "busy", check=False)
    assert refused.returncode == 1 and "running" in refused.stderr
    assert docker.out("rm", "-f", "busy") == "busy\n"
    assert docker.out("ps", "-a", "-q") == ""


def test_start_and_restart_a_stopped_container(docker):
    detached(docker, "sh", "-c", "echo run; sleep 60", name="again")
    docker("stop", "-t", "0", "again")
    assert docker.out("start", "again") == "again\n"
    wait_for(lambda: docker.out("logs", "again") == "run\nrun\n")
    assert json.loads(docker.out("ps", "--format", "json"))[0]["State"] == "running"
    first = docker.out("inspect", "-f", "{{.State.Pid}}", "again")
    docker("restart", "-t", "0", "again")
    assert docker.out("inspect", "-f", "{{.State.Pid}}", "again") != first
    assert docker.out("inspect", "-f", "{{.State.Status}}", "again") == "running\n"


def test_exec_env_user_workdir(docker):
    detached(docker, "sleep", "60", name="ex")
    out = docker.out("exec", "-e", "X=1", "-u", "app", "-w", "/tmp", "ex", "sh", "-c",
                     'echo "$X $(id -un) $(pwd)"')
    assert out == "1 app /tmp\n"
    assert docker("exec", "ex", "sh", "-c", "exit 6", check=False).returncode == 6
    assert docker.out("exec", "-i", "ex", "cat", input="piped\n") == "piped\n"


def test_exec_privileged_has_every_capability(docker):
    detached(docker, "sleep", "60", name="priv")

    def effective(*flags):
        out = docker.out("exec", *flags, "priv", "grep", "CapEff", "/proc/self/status")
        return int(out.split()[1], 16)

    with open("/proc/self/status") as f:
        host = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    assert effective("--privileged") == host
    assert effective() != host and effective() & ~host == 0


def test_inspect_top_and_stats(docker):
    cid = docker.out("run", "-d", "--name", "looked", "--label", "tier=web", *NONE, "busybox",
                     "sleep", "60").strip()
    doc = json.loads(docker.out("inspect", "looked"))[0]
    assert doc["Id"] == cid and doc["State"]["Running"] and doc["Config"]["Cmd"] == ["sleep", "60"]
    assert doc["HostConfig"]["NetworkMode"] == "none"
    assert doc["Config"]["Labels"]["tier"] == "web"
    top = docker.out("top", "looked").splitlines()
    assert "PID" in top[0] and len(top) == 2 and "sleep 60" in top[1]
    assert str(doc["State"]["Pid"]) in top[1]
    stats = json.loads(docker.out("stats", "--no-stream", "--format", "json"))
    assert [s["Name"] for s in stats] == ["looked"] and stats[0]["PIDs"] == "1"


def test_prune_removes_only_stopped_containers(docker):
    detached(docker, "true", name="finished")
    detached(docker, "sleep", "60", name="alive")
    docker("wait", "finished")
    docker("prune", "-f")
    assert docker.out("ps", "-a", "--format", "json").count('"Names"') == 1
    assert "alive" in docker.out("ps")


def test_detached_rm_removes_itself_when_done(docker):
    docker("run", "-d", "--rm", *NONE, "--name", "ephemeral", "busybox", "true")
    wait_for(lambda: docker.out("ps", "-a", "-q") == "")


def test_an_idle_detached_container_costs_under_2_mib(docker):
    """No Python stays: conmon is the only process outside the container."""
    cid = detached(docker, "sleep", "60", name="idle")
    bundle = os.path.join(docker.storage, "containers", cid)
    with open(os.path.join(bundle, "conmon.pid")) as f:
        conmon = int(f.read())
    with open(f"/proc/{conmon}/smaps_rollup") as f:
        pss_kib = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    assert pss_kib < 2048, pss_kib
    init = int(docker.out("inspect", "-f", "{{.State.Pid}}", "idle"))
    with open(f"/proc/{init}/status") as f:
        assert next(line for line in f if line.startswith("PPid:")).split()[1] == str(conmon)
    python = subprocess.run(["pgrep", "-f", f"pybox.*{cid}"], capture_output=True, text=True).stdout.split()
    assert python == [str(conmon)] or python == [], python


def test_a_damaged_metadata_file_hides_only_that_container(docker):
    bad = detached(docker, "true", name="bad")
    detached(docker, "true", name="good")
    docker("wait", "bad", "good")
    with open(os.path.join(docker.storage, "containers", bad, "meta.json"), "w") as f:
        f.write("{not json")
    assert "good" in docker.out("ps", "-a") and "bad" not in docker.out("ps", "-a")
    damaged = docker("inspect", bad, check=False)
    assert damaged.returncode == 1 and "meta.json is damaged" in damaged.stderr
    with open(os.path.join(docker.storage, "containers", bad, "meta.json"), "w") as f:
        f.write(json.dumps({"id": bad, "name": "bad", "image": "busybox", "network": "none"}))


def test_rm_cleans_up_after_the_monitor_crashed(docker):
    cid = detached(docker, "sleep", "60", name="orphan")
    with open(os.path.join(docker.storage, "containers", cid, "conmon.pid")) as f:
        os.kill(int(f.read()), 9)
    assert docker.out("rm", "-f", "orphan") == "orphan\n"
    assert docker.out("ps", "-a", "-q") == ""
    assert not os.path.exists(os.path.join(docker.storage, "containers", cid))


def test_wait_for_a_foreground_container_run_elsewhere(docker):
    proc = subprocess.Popen(docker.argv("run", "--name", "fg", *NONE, "busybox", "sh", "-c",
                                        "sleep 0.5; exit 12"), env=docker.env, stdin=subprocess.DEVNULL)
    wait_for(lambda: "fg" in docker.out("ps"))
    assert docker.out("wait", "fg") == "12\n"
    assert proc.wait(10) == 12


def test_pause_and_unpause_by_name(docker):
    docker("run", "-d", "--name", "sleeper", *NONE, "busybox", "sleep", "1000")
    docker("pause", "sleeper")
    assert docker.out("inspect", "-f", "{{.State.Status}}", "sleeper").strip() == "paused"
    docker("unpause", "sleeper")
    assert docker.out("inspect", "-f", "{{.State.Status}}", "sleeper").strip() == "running"
    docker("rm", "-f", "sleeper")
