"""The modules a container start imports: every `create` pays for them (issue: import budget).

`json` alone pulls in `re` and `enum` (about 6 ms here); none of the modules below may be imported
by `create` of a bundle with Docker's default seccomp profile (what podman, containerd and
`pybox run` create), in the runtime or in the container's init.
"""

import os
import subprocess
import sys
import tempfile

from integration.conftest import PYBOX_RUNC
from pybox.seccomp.default import default_profile

FORBIDDEN = {"json", "re", "enum", "dataclasses", "typing", "shutil", "subprocess", "socket",
             "signal", "logging", "tempfile", "hashlib", "inspect", "argparse", "importlib.metadata"}


def imported_by(*argv):
    """Names of the modules `pybox ARGV` imports, in the runtime and in what it forks."""
    with open(PYBOX_RUNC) as f:
        interpreter = f.readline()[2:].split()[0]  # the launcher's own: #!PYTHON -IS
    with tempfile.TemporaryFile("w+") as err:  # not a pipe: the created init keeps pybox's stdio
        code = subprocess.run([interpreter, "-IS", "-X", "importtime", PYBOX_RUNC, *argv], stdout=subprocess.DEVNULL,
                              stderr=err, timeout=60, stdin=subprocess.DEVNULL).returncode
        err.seek(0)
        lines = err.read().splitlines()
    assert code == 0, lines[-20:]
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")} - {"package"}


def test_create_with_the_default_seccomp_profile_stays_within_the_budget(pybox, bundle):
    bundle.config["linux"]["seccomp"] = default_profile(bundle.config["process"]["capabilities"]["bounding"])
    bundle.args("true")
    for _ in range(2):  # the first compiles the profile (a cache miss); the second is the usual case
        modules = imported_by("--root", pybox.root, "create", "-b", bundle.path, "c1")
        pybox("delete", "--force", "c1")
    assert modules & FORBIDDEN == set(), sorted(modules & FORBIDDEN)
    assert "pybox.runtime.init.stages" in modules  # the init's imports were seen too


def test_start_and_delete_stay_within_the_budget(pybox, bundle):
    bundle.args("true")
    pybox("create", "-b", bundle.path, "c1")
    assert imported_by("--root", pybox.root, "start", "c1") & FORBIDDEN == set()
    assert imported_by("--root", pybox.root, "delete", "--force", "c1") & FORBIDDEN == set()
    assert sys.executable and os.path.exists(PYBOX_RUNC)
