"""An unprivileged user for the rootless tests: made with useradd for the module, with ranges in
/etc/subuid and /etc/subgid, and removed at the end (entries included) whatever happened.

Import the fixture into a test module: `from integration.rootless_user import user`.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

SUB_COUNT = 65536


def _entries(path):
    """(name, start, count) of each well-formed line of /etc/subuid or /etc/subgid."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    parts = [line.strip().split(":") for line in lines]
    return [(p[0], int(p[1]), int(p[2])) for p in parts if len(p) == 3 and p[1].isdigit() and p[2].isdigit()]


def _first_free_sub_start():
    """A subordinate range nobody in /etc/subuid or /etc/subgid holds, above the usual 100000s."""
    ends = [start + count for path in ("/etc/subuid", "/etc/subgid") for _, start, count in _entries(path)]
    return max([200000, *ends])


def _own_entry(path, name):
    return next(((start, count) for owner, start, count in _entries(path) if owner == name), None)


def _drop_entries(path, name):
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return
    kept = [line for line in lines if line.split(":")[0] != name]
    if kept != lines:
        with open(path, "w") as f:
            f.writelines(kept)


class User:
    def __init__(self, name):
        self.name = name
        self.uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True,
                                      timeout=10).stdout)
        self.gid = int(subprocess.run(["id", "-g", name], capture_output=True, text=True, check=True,
                                      timeout=10).stdout)
        self.subuid = _own_entry("/etc/subuid", name)
        self.subgid = _own_entry("/etc/subgid", name)
        self.home = tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp")
        os.chmod(self.home, 0o700)
        os.chown(self.home, self.uid, self.gid)
        self.runtime_dir = os.path.join(self.home, "xdg-runtime")
        self.mkdir(self.runtime_dir)

    def mkdir(self, path):
        os.makedirs(path, mode=0o700)
        os.chown(path, self.uid, self.gid)
        return path

    def env(self):
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.home,
                "USER": self.name, "LOGNAME": self.name, "XDG_RUNTIME_DIR": self.runtime_dir}

    def run(self, *argv, timeout=60, cwd=None, check=False, cgroup=None, env=None):
        """argv as this user (setpriv: its uid, gid and groups; nothing else of root's kept),
        moved first into the cgroup v2 directory `cgroup` if given (a login session's); env:
        variables to add to the login-like environment."""
        as_user = ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid), "--init-groups", "--", *argv]
        if cgroup:
            as_user = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, *as_user]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # Files, not pipes: a created container's init keeps the runtime's stdio open.
            code = subprocess.run(as_user, env={**self.env(), **(env or {})}, cwd=cwd or self.home,
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(argv, code, out.read().decode(), err.read().decode())
        if check and code != 0:
            raise AssertionError(f"{' '.join(argv)} as {self.name} exited {code}: {result.stderr}")
        return result


@pytest.fixture(scope="module")
def user():
    name = f"pbrl{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True, timeout=30, capture_output=True)
    made = None
    try:
        for path in ("/etc/subuid", "/etc/subgid"):  # useradd may have added them (login.defs)
            if _own_entry(path, name) is None:
                with open(path, "a") as f:
                    f.write(f"{name}:{_first_free_sub_start()}:{SUB_COUNT}\n")
        made = User(name)
        yield made
    finally:
        if made is not None:
            shutil.rmtree(made.home, ignore_errors=True)
        subprocess.run(["userdel", name], timeout=30, capture_output=True)
        for path in ("/etc/subuid", "/etc/subgid"):
            _drop_entries(path, name)
