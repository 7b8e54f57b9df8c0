"""`pybox seccomp compile` and `explain`, run as a person would."""

import json
import os
import subprocess
import sys

from pybox.engine.cli import main
from pybox.seccomp import bpf, compile_filter, default_profile

PYBOX = os.path.join(os.path.dirname(sys.executable), "pybox")


def pybox(*args):
    return subprocess.run([PYBOX, *args], capture_output=True, text=True, timeout=60)


def test_compile_writes_the_program_pybox_loads(tmp_path):
    out = tmp_path / "default.bpf"
    result = pybox("seccomp", "compile", "default", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == compile_filter(default_profile([]), cache_dir=False).program
    bpf.unpack(out.read_bytes())


def test_explain_reads_profiles_configs_and_programs(tmp_path, capsys):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]}
    (tmp_path / "p.json").write_text(json.dumps(profile))
    config = {"ociVersion": "1.2.0", "process": {}, "linux": {"seccomp": profile}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    for source in ("p.json", "config.json"):
        assert main(["seccomp", "explain", str(tmp_path / source), "kill", "1", "9"]) == 0
        assert main(["seccomp", "explain", str(tmp_path / source), "kill", "1", "15"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "kill(0x1, 0x9) on x86_64 [nr 62]: SCMP_ACT_ERRNO(3) (No such process)"
    assert lines[1] == "kill(0x1, 0xf) on x86_64 [nr 62]: SCMP_ACT_ALLOW"
    assert lines[2:] == lines[:2]
    assert main(["seccomp", "compile", str(tmp_path / "p.json"), "-o", str(tmp_path / "p.bpf")]) == 0
    assert main(["seccomp", "explain", str(tmp_path / "p.bpf"), "62", "0", "9"]) == 0
    assert capsys.readouterr().out.endswith("SCMP_ACT_ERRNO(3) (No such process)\n")


def test_explain_options_anywhere_and_capabilities(capsys):
    assert main(["seccomp", "explain", "default", "mount", "--cap", "SYS_ADMIN"]) == 0
    assert main(["seccomp", "explain", "--arch", "x86", "default", "mount"]) == 0
    assert main(["seccomp", "explain", "default", "getppid", "--arch=x32"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("SCMP_ACT_ALLOW")
    assert out[1] == "mount() on x86 [nr 21]: SCMP_ACT_ERRNO(1) (Operation not permitted)"
    assert out[2] == "getppid() on x32 [nr 1073741934]: SCMP_ACT_ALLOW"


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path):
    (tmp_path / "bad.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"]}]}')
    (tmp_path / "junk.json").write_text("{nope")
    cases = [
        (["compile", str(tmp_path / "bad.json"), "-o", str(tmp_path / "out.bpf")], "bad.json.syscalls[0].action: missing"),
        (["compile", str(tmp_path / "junk.json"), "-o", str(tmp_path / "out.bpf")], "junk.json: not JSON"),
        (["compile", str(tmp_path / "absent.json"), "-o", str(tmp_path / "out.bpf")], "No such file"),
        (["compile", "default"], "missing -o FILE.bpf"),
        (["explain", "default", "no_such_call"], "no syscall 'no_such_call'"),
        (["explain", "default", "read", "x1"], "argument 'x1' is not a number"),
        (["explain", "default", "read", "--arch", "sparc"], "--arch must be one of"),
        (["frob"], "unknown subcommand 'frob'"),
    ]
    for args, message in cases:
        result = pybox("seccomp", *args)
        assert result.returncode == 1, args
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.json", "junk.json"]


def test_help(capsys):
    assert main(["seccomp", "--help"]) == 0
    assert "pybox seccomp explain PROFILE SYSCALL" in capsys.readouterr().out
