"""The exec stub (runtime/init/dmz.py) as a program: it execs argv[0] with argv[1:] and the
environment, and ends with 127 when it cannot, or when a script names it as its interpreter."""

import os
import subprocess

import pytest

from pybox.runtime.init import dmz

pytestmark = pytest.mark.skipif(dmz.stub_image() is None, reason="no stub for this machine")


@pytest.fixture
def stub(tmp_path):
    path = tmp_path / "stub"
    path.write_bytes(dmz.stub_image())
    path.chmod(0o755)
    return str(path)


def test_it_execs_the_program_with_its_argv_and_environment(stub):
    # busybox picks its applet by argv[0]: "sh" runs the shell, so argv[0] came through.
    out = subprocess.run([stub, "/bin/busybox", "sh", "-c", 'echo "$0 $1 $X"', "zero", "one"],
                         env={"X": "from-env"}, capture_output=True, text=True, timeout=10)
    assert (out.returncode, out.stdout) == (0, "zero one from-env\n")


def test_it_ends_with_127_when_the_program_is_missing_or_not_given(stub):
    assert subprocess.run([stub, "/nonexistent", "x"], timeout=10).returncode == 127
    assert subprocess.run([stub], timeout=10).returncode == 127


def test_a_script_that_names_it_as_interpreter_ends(stub, tmp_path):
    script = tmp_path / "evil"
    script.write_text(f"#!{stub}\n")
    script.chmod(0o755)
    assert subprocess.run([str(script), "a", "b", "c"], timeout=10).returncode == 127


def test_the_memfd_is_sealed_against_writes():
    fd, _ = dmz.prepare()
    try:
        with pytest.raises(PermissionError):
            os.write(fd, b"x")
        with pytest.raises(PermissionError):
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
