"""How the container's processes are started: signal dispositions and mask, HOME, cwd, sessions,
the seccomp filter's place, ambient capabilities, --preserve-fds and rejected id maps.

Where runc and pybox may differ, runc (Debian's 1.1.5) runs the same bundle in the same test.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from integration.conftest import PYBOX_RUNC
from integration.conftest import test_cgroup_path as new_cgroup_path

RUNC = shutil.which("runc")
needs_runc = pytest.mark.skipif(RUNC is None, reason="runc is not installed")

SIGPIPE_SIGXFSZ = (1 << (13 - 1)) | (1 << (25 - 1))
STATUS = 'grep -E "^Sig(Ign|Blk)" /proc/self/status'
SEC = 30  # every runtime call below ends within this, whatever the container prints


def run(argv, timeout=SEC, **kw):
    """Files, not pipes: a container keeps the runtime's stdio open."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = subprocess.run(argv, stdout=out, stderr=err, timeout=timeout, **kw).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read().decode(), err.read().decode())


class Runc:
    def __init__(self, root):
        self.root = str(root)

    def __call__(self, *args, check=True, **kw):
        result = run([RUNC, "--root", self.root, *args], **kw)
        if check and result.returncode != 0:
            raise AssertionError(f"runc {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def cleanup(self):
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                self("delete", "--force", cid, check=False)


@pytest.fixture
def runc(tmp_path):
    r = Runc(tmp_path / "runc-state")
    yield r
    r.cleanup()


def runtimes(pybox, runc, bundle):
    """(name, runtime) for pybox, then runc when installed; the bundle gets a fresh cgroup each."""
    for name, rt in (("pybox", pybox), ("runc", runc if RUNC else None)):
        if rt is not None:
            bundle.config["linux"]["cgroupsPath"] = new_cgroup_path()
            bundle.write()
            yield name, rt


def both(pybox, runc, bundle, *args, **kw):
    """`run` the bundle with each runtime in turn: {"pybox": result, "runc": result}."""
    return {name: rt("run", *args, name, check=False, cwd=bundle.path, **kw)
            for name, rt in runtimes(pybox, runc, bundle)}


def fields(text, name):
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(name + ":")]


def assert_default_signals(text, who):
    ignored, blocked = fields(text, "SigIgn"), fields(text, "SigBlk")
    assert ignored and blocked, f"{who}: no status in {text!r}"
    for value in ignored:
        assert int(value, 16) & SIGPIPE_SIGXFSZ == 0, f"{who}: SIGPIPE or SIGXFSZ ignored ({value})"
    for value in blocked:
        assert int(value, 16) == 0, f"{who}: signals blocked ({value})"


def hook(out):
    return {"path": "/bin/sh", "args": ["sh", "-c", f"{STATUS} > {out}"]}


# --- B: signal dispositions and mask --------------------------------------------------------

def test_init_exec_and_hooks_start_with_default_signals(pybox, runc, bundle, tmp_path):
    """Python ignores SIGPIPE and SIGXFSZ; nothing pybox execs may inherit that (runc: only what
    its caller ignored), nor a signal mask. The init, the hooks of every kind, an exec'd process."""
    bundle.config["hooks"] = {
        "prestart": [hook(tmp_path / "prestart.txt")],
        "createContainer": [hook(tmp_path / "createContainer.txt")],
        "startContainer": [hook("/tmp/startContainer.txt")],  # inside the container
        "poststart": [hook(tmp_path / "poststart.txt")],
    }
    bundle.args("sh", "-c", f"{STATUS}; sleep 60")
    for name, rt in runtimes(pybox, runc, bundle):
        for f in tmp_path.glob("*.txt"):
            f.unlink()
        try:
            rt("run", "-d", "--bundle", bundle.path, "c1")
            exec_out = rt("exec", "c1", "sh", "-c", STATUS).stdout
        finally:
            rt("delete", "--force", "c1", check=False)
        assert_default_signals(exec_out, f"{name} exec")
        for kind in ("prestart", "createContainer", "poststart"):
            assert_default_signals((tmp_path / f"{kind}.txt").read_text(), f"{name} {kind} hook")
        start = os.path.join(bundle.rootfs, "tmp/startContainer.txt")
        assert_default_signals(open(start).read(), f"{name} startContainer hook")
        os.unlink(start)


def test_init_status_matches_runc(pybox, runc, bundle):
    bundle.args("sh", "-c", STATUS)
    for name, result in both(pybox, runc, bundle).items():
        assert result.returncode == 0, (name, result.stderr)
        assert_default_signals(result.stdout, f"{name} init")


BLOCKING_CALLER = """
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_a_callers_signal_mask_does_not_reach_the_container(pybox, bundle, tmp_path):
    """A container started with SIGTERM blocked could not be stopped by it. (runc 1.1.5 passes on
    a caller's blocked SIGUSR1; the container is better off with the empty mask the kernel gives
    a new process tree, which is what the issue asks.)"""
    bundle.config["hooks"] = {"prestart": [hook(tmp_path / "prestart.txt")]}
    bundle.args("sh", "-c", STATUS)
    result = run([sys.executable, "-c", BLOCKING_CALLER, PYBOX_RUNC, "--root", pybox.root, "run",
                  "--bundle", bundle.path, "c1"])
    assert result.returncode == 0, result.stderr
    assert_default_signals(result.stdout, "init")
    assert_default_signals((tmp_path / "prestart.txt").read_text(), "prestart hook")


def _ignoring_int_hup_quit():
    import signal
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)


@needs_runc
def test_a_caller_ignoring_sigint_passes_on_what_runc_does(pybox, runc, bundle):
    """A script's `runtime run ... &` starts with SIGINT ignored (nohup's with SIGHUP). runc's
    foreground run and exec forward both, which un-ignores them for the container's process.
    (What becomes of the caller's other ignored signals, SIGQUIT here, runc leaves to its Go
    runtime: its init has it back at the default, its exec'd process not.)"""
    int_hup = (1 << 1) | (1 << 0)
    bundle.config["process"]["args"] = ["sh", "-c", f"{STATUS}; sleep 60"]
    seen = {}
    for name, rt in runtimes(pybox, runc, bundle):
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen([PYBOX_RUNC if name == "pybox" else RUNC, "--root", rt.root, "run", "--bundle",
                                 bundle.path, "c1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, preexec_fn=_ignoring_int_hup_quit)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], SEC)
            line = (proc.stdout.readline() + proc.stdout.readline()).decode() if ready else ""  # SigBlk, SigIgn
            err.seek(0)
            assert "SigIgn" in line, f"{name}: {line!r} {err.read()!r}"
            init = int(fields(line, "SigIgn")[0], 16)
            execd = rt("exec", "c1", "sh", "-c", STATUS, preexec_fn=_ignoring_int_hup_quit).stdout
            seen[name] = (init & int_hup, int(fields(execd, "SigIgn")[0], 16) & int_hup)
        finally:
            rt("kill", "c1", "KILL", check=False)
            proc.wait(timeout=SEC)
            rt("delete", "--force", "c1", check=False)
            err.close()
    assert set(seen.values()) == {(0, 0)}, seen


@pytest.mark.parametrize("pipeline", [
    "while :; do echo y; done | head -1",
    "cat /dev/zero | head -c1 >/dev/null",
    "yes | head -1",
])
def test_pipelines_end_when_the_reader_does(pybox, runc, bundle, pipeline):
    """With SIGPIPE ignored the writer never dies: `yes | head -1` would run forever, and cat
    prints "Broken pipe". Under a deadline, as with runc; then the same through exec."""
    bundle.args("sh", "-c", pipeline)
    for name, result in both(pybox, runc, bundle, timeout=20).items():
        assert result.returncode == 0, (name, result.stderr)
        assert "Broken pipe" not in result.stderr, name
    bundle.args("sleep", "60")
    pybox("run", "-d", "--bundle", bundle.path, "c2")
    try:
        result = pybox("exec", "c2", "sh", "-c", pipeline, check=False, timeout=20)
        assert result.returncode == 0 and "Broken pipe" not in result.stderr, result.stderr
    finally:
        pybox("delete", "--force", "c2")


# --- C1: the seccomp filter is the last step before execve ------------------------------------

DENY_RUNTIME_CALLS = {
    "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["close_range", "getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def docker_profile(bundle):
    """Docker's default profile (seccomp/default_profile.json) for the process's capabilities."""
    from pybox.seccomp.default import default_profile
    return default_profile(bundle.config["process"]["capabilities"]["effective"])


@pytest.mark.parametrize("nnp", [False, True], ids=["privs", "no_new_privs"])
@pytest.mark.parametrize("profile", ["deny-close_range-getcwd", "docker-default"])
def test_seccomp_profile_need_not_allow_what_the_runtime_does(pybox, runc, bundle, nnp, profile):
    """A profile governs the container's program, not the runtime's set-up: one that denies
    close_range and getcwd must not fail create with a bare "Operation not permitted". Without
    no_new_privs, loading needs CAP_SYS_ADMIN, which a non-root user without it is given only
    until the filter is in (runc 1.1.5 itself calls getcwd after the filter then, and fails:
    "failed to verify if current working directory is safe"). The same for exec."""
    bundle.config["linux"]["seccomp"] = DENY_RUNTIME_CALLS if profile.startswith("deny") else docker_profile(bundle)
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["cwd"] = "/home/app"
    bundle.args("sh", "-c", 'grep -E "^(Seccomp|NoNewPrivs|CapEff|CapPrm):" /proc/self/status')
    results = both(pybox, runc, bundle)
    result = results["pybox"]
    assert result.returncode == 0, result.stderr
    assert fields(result.stdout, "Seccomp") == ["2"]
    assert fields(result.stdout, "NoNewPrivs") == [str(int(nnp))]
    # CAP_SYS_ADMIN, held for loading the filter, is gone again
    assert fields(result.stdout, "CapEff") == fields(result.stdout, "CapPrm") == ["0000000000000000"]
    if "runc" in results and nnp:
        assert results["runc"].returncode == 0, results["runc"].stderr
        assert results["runc"].stdout == result.stdout
    bundle.args("sleep", "60")
    pybox("run", "-d", "--bundle", bundle.path, "c2")
    try:
        out = pybox("exec", "c2", "sh", "-c", 'grep -E "^(Seccomp|CapEff):" /proc/self/status').stdout
        assert fields(out, "Seccomp") == ["2"] and fields(out, "CapEff") == ["0000000000000000"]
    finally:
        pybox("delete", "--force", "c2")


def test_seccomp_as_root_keeps_the_configured_capabilities(pybox, bundle):
    """Root with runc's default capabilities: CAP_SYS_ADMIN is held for the load only."""
    bundle.config["linux"]["seccomp"] = docker_profile(bundle)
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.args("sh", "-c", 'grep -E "^(CapEff|CapPrm|CapBnd):" /proc/self/status')
    out = pybox("run", "--bundle", bundle.path, "c1").stdout
    caps = bundle.config["process"]["capabilities"]
    from pybox.runtime.init.process import cap_mask
    assert int(fields(out, "CapEff")[0], 16) == cap_mask(caps["effective"])
    assert int(fields(out, "CapPrm")[0], 16) == cap_mask(caps["permitted"])


# --- C2: ambient capabilities that are not inheritable ----------------------------------------

@needs_runc
def test_a_runc_spec_bundle_runs_as_with_runc(pybox, runc, tmp_path, busybox_rootfs):
    """`runc spec` lists ambient capabilities that are not inheritable; the kernel refuses to
    raise those. runc and crun skip them (the runtime spec: not an error); pybox warns in one line."""
    path = tmp_path / "spec-bundle"
    path.mkdir()
    subprocess.run([RUNC, "spec"], cwd=path, check=True, timeout=SEC)
    with open(path / "config.json") as f:
        config = json.load(f)
    assert config["process"]["capabilities"]["ambient"] and not config["process"]["capabilities"].get("inheritable")
    config["root"]["path"] = busybox_rootfs
    config["process"]["terminal"] = False
    config["process"]["args"] = ["grep", "^Cap", "/proc/self/status"]
    with open(path / "config.json", "w") as f:
        json.dump(config, f)
    mine = pybox("run", "p1", check=False, cwd=path)
    theirs = runc("run", "r1", check=False, cwd=path)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    assert mine.stdout == theirs.stdout
    assert fields(mine.stdout, "CapAmb") == ["0000000000000000"]
    assert len(mine.stderr.splitlines()) == 1 and "process.capabilities.ambient" in mine.stderr


def test_ambient_capabilities_that_can_be_raised_still_are(pybox, bundle):
    caps = bundle.config["process"]["capabilities"]
    caps["inheritable"] = ["CAP_KILL"]
    caps["ambient"] = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.args("grep", "^CapAmb", "/proc/self/status")
    result = pybox("run", "--bundle", bundle.path, "c1")
    assert fields(result.stdout, "CapAmb") == [f"{1 << 5:016x}"]  # CAP_KILL
    assert "CAP_NET_BIND_SERVICE" in result.stderr and "CAP_KILL" not in result.stderr


# --- C4: bad input never hangs ------------------------------------------------------------------

def test_preserve_fds_beyond_the_open_fds_is_refused(pybox, runc, bundle):
    """Only fds 0-2 are open: fds 3.. are the runtime's own (its locked state directory among
    them), which the container would have kept, so that `delete` waited forever. runc refuses
    too ("unable to stat preserved-fd")."""
    bundle.args("true")
    for args in (["run", "--preserve-fds", "5"], ["create", "--preserve-fds", "1"]):
        started = time.monotonic()
        result = pybox(*args, "--bundle", bundle.path, "c1", check=False, timeout=20)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.splitlines()) == 1 and "--preserve-fds" in result.stderr
        assert time.monotonic() - started < 10
        assert os.listdir(pybox.root) == [] if os.path.isdir(pybox.root) else True
    if RUNC:
        assert runc("run", "--preserve-fds", "5", "--bundle", bundle.path, "r1", check=False).returncode != 0


def test_preserved_fds_that_were_given_reach_the_container(pybox, bundle, tmp_path):
    bundle.args("sh", "-c", "cat <&3; cat <&4")
    for i in (3, 4):
        (tmp_path / f"f{i}").write_text(f"fd{i}\n")
    result = run(["/bin/sh", "-c", 'exec "$@" 3<"$F3" 4<"$F4"', "sh", PYBOX_RUNC, "--root", pybox.root, "run",
                  "--preserve-fds", "2", "--bundle", bundle.path, "c1"],
                 env={**os.environ, "F3": str(tmp_path / "f3"), "F4": str(tmp_path / "f4")})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fd3\nfd4\n"


def test_exec_preserve_fds_beyond_the_open_fds_is_refused(pybox, bundle):
    bundle.args("sleep", "60")
    pybox("run", "-d", "--bundle", bundle.path, "c1")
    try:
        result = pybox("exec", "--preserve-fds", "4", "c1", "true", check=False, timeout=20)
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "--preserve-fds" in result.stderr
    finally:
        started = time.monotonic()
        pybox("delete", "--force", "c1", timeout=20)
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("maps", [
    [{"containerID": 0, "hostID": -1, "size": 65536}],
    [{"containerID": 0, "hostID": -5, "size": 1000}],
    [{"containerID": 0, "hostID": 100000, "size": 1000}, {"containerID": 500, "hostID": 200000, "size": 1000}],
], ids=["hostID-1", "hostID-5", "overlapping"])
def test_a_rejected_id_map_fails_at_once(pybox, runc, bundle, maps):
    """The kernel refuses the map: one line naming the field, exit 1, quickly, nothing left
    (the intermediate process waited for an answer the parent would never send)."""
    bundle.in_user_namespace()
    bundle.config["linux"]["uidMappings"] = maps
    bundle.args("true")
    started = time.monotonic()
    result = pybox("run", "--bundle", bundle.path, "c1", check=False, timeout=20)
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "uidMappings" in result.stderr, result.stderr
    # (hostID -1 and -5 are refused by the config check, before a state directory exists)
    assert not os.path.exists(pybox.root) or os.listdir(pybox.root) == []
    if RUNC:
        assert runc("run", "--bundle", bundle.path, "r1", check=False, timeout=20).returncode != 0


# --- C7: HOME, cwd, sessions --------------------------------------------------------------------

@pytest.mark.parametrize("user,env", [
    ({"uid": 1000, "gid": 1000}, []), ({"uid": 1, "gid": 1}, []), ({"uid": 4242, "gid": 4242}, []),
    ({"uid": 0, "gid": 0}, []), ({"uid": 1000, "gid": 1000}, ["HOME=/elsewhere"]),
])
def test_home_comes_from_the_containers_passwd(pybox, runc, bundle, user, env):
    """runc sets HOME from the container's /etc/passwd ("/" for a uid not there), unless
    process.env has it; for the init and for exec."""
    bundle.config["process"]["user"] = user
    bundle.config["process"]["env"] = bundle.config["process"]["env"] + env
    bundle.args("sh", "-c", 'echo "$HOME"')
    results = both(pybox, runc, bundle)
    expected = {1000: "/home/app", 1: "/usr/sbin", 4242: "/", 0: "/root"}[user["uid"]]
    assert results["pybox"].stdout == (env[0][5:] if env else expected) + "\n", results["pybox"].stderr
    if "runc" in results:
        assert results["runc"].stdout == results["pybox"].stdout
    bundle.args("sleep", "60")
    pybox("run", "-d", "--bundle", bundle.path, "c2")
    try:
        out = pybox("exec", "--user", "1:1", "c2", "sh", "-c", 'echo "$HOME"').stdout
        assert out == (env[0][5:] if env else "/usr/sbin") + "\n"  # the config's env goes to exec too
    finally:
        pybox("delete", "--force", "c2")


def test_a_missing_cwd_is_made_as_root_before_the_user_switch(pybox, runc, bundle):
    """runc and crun create process.cwd (0755, owned by the container's root); a user that could
    not create it itself still starts there."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["cwd"] = "/srv/deep/work"
    bundle.args("sh", "-c", 'pwd; stat -c "%a %u %g" . ..')
    outputs = {}
    for name, rt in runtimes(pybox, runc, bundle):
        result = rt("run", "--bundle", bundle.path, "c1", check=False)
        assert result.returncode == 0, (name, result.stderr)
        outputs[name] = result.stdout
        shutil.rmtree(os.path.join(bundle.rootfs, "srv"))
    assert outputs["pybox"] == "/srv/deep/work\n755 0 0\n755 0 0\n"
    if "runc" in outputs:
        assert outputs["runc"] == outputs["pybox"]


def test_exec_makes_a_session_leader(pybox, runc, bundle):
    """runc calls setsid for an exec'd process too: its process group and session are its own
    pid, not 0 (a parent outside the container's pid namespace)."""
    bundle.args("sleep", "60")
    cmd = ("exec", "c1", "sh", "-c", 'cut -d" " -f5,6 /proc/$$/stat; echo $$')
    outputs = {}
    for name, rt in runtimes(pybox, runc, bundle):
        rt("run", "-d", "--bundle", bundle.path, "c1")
        try:
            outputs[name] = rt(*cmd).stdout.split()
        finally:
            rt("delete", "--force", "c1")
    pgrp, session, pid = outputs["pybox"]
    assert pgrp == session == pid
    if "runc" in outputs:
        assert outputs["runc"][0] == outputs["runc"][1] == outputs["runc"][2]


# --- C10: errors name the step and the field ----------------------------------------------------

@pytest.mark.parametrize("change,field", [
    # SCHED_DEADLINE wants runtime <= deadline <= period: the kernel says EINVAL
    (lambda c: c["process"].update(scheduler={"policy": "SCHED_DEADLINE", "runtime": 2000000,
                                              "deadline": 1000000, "period": 1000000}), "process.scheduler"),
    # a group the user namespace does not map
    (lambda c: c["process"]["user"].update(additionalGids=[4000000]), "process.user"),
], ids=["scheduler", "user"])
def test_a_process_setting_the_kernel_refuses_names_the_field(pybox, bundle, change, field):
    if field == "process.user":
        bundle.in_user_namespace()
    change(bundle.config)
    bundle.args("true")
    result = pybox("run", "--bundle", bundle.path, "c1", check=False)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and f"{field}: " in result.stderr, result.stderr
