"""Known runtime escapes, each closed and tested (runc's CVE history)."""

import json
import os



def test_no_host_fd_reaches_the_container(pybox, bundle):
    # CVE-2024-21626: a leaked host fd let a process chdir to /proc/self/fd/N, outside the root.
    bundle.args("sh", "-c", "ls /proc/self/fd | tr '\\n' ' '")
    out = pybox("run", "-b", bundle.path, "c1").stdout.split()
    assert sorted(out) == ["0", "1", "2", "3"]  # 3 is ls's own directory handle


def test_cwd_through_a_leaked_fd_path_is_refused(pybox, bundle, tmp_path):
    (tmp_path / "host-marker").write_text("")
    leaked = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # pybox is handed a host directory
    try:
        for fd in [*range(3, 12), leaked]:
            bundle.config["process"]["cwd"] = f"/proc/self/fd/{fd}"
            bundle.args("sh", "-c", "ls; echo ran")  # not `pwd`: it fails by itself outside the root
            result = pybox("run", "-b", bundle.path, "c1", check=False, pass_fds=(leaked,))
            assert result.returncode == 1 and "cwd" in result.stderr, result.stdout
            assert result.stdout == ""
    finally:
        os.close(leaked)


def test_init_is_not_dumpable_before_exec(pybox, bundle):
    # CVE-2019-5736: a container process must not reach the runtime's binary through /proc.
    bundle.args("sleep", "1000")
    pybox("create", "-b", bundle.path, "c1")
    result = pybox("exec", "c1", "sh", "-c", "cat /proc/1/exe > /dev/null && echo opened || echo denied")
    assert result.stdout.strip() == "denied"
    result = pybox("exec", "c1", "sh", "-c", "ls -l /proc/1/exe 2>&1; readlink /proc/1/exe || echo no-link")
    assert "python" not in result.stdout
    pybox("delete", "--force", "c1")


def test_mount_destination_symlink_stays_inside_the_rootfs(pybox, bundle, tmp_path):
    # CVE-2021-30465 class: a symlinked destination must not lead the mount out of the rootfs.
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    (host_dir / "precious").write_text("keep me")
    os.symlink(str(host_dir), os.path.join(bundle.rootfs, "evil"))
    # Inside the rootfs the same absolute path exists: that is where the mount must land.
    os.makedirs(os.path.join(bundle.rootfs, str(host_dir.relative_to("/"))))
    bundle.config["mounts"].append({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"})
    bundle.args("sh", "-c", "touch /evil/sub/x && echo ok")
    result = pybox("run", "-b", bundle.path, "c1", check=False)
    assert (host_dir / "precious").read_text() == "keep me"
    assert not (host_dir / "sub").exists()
    assert result.returncode == 0 and result.stdout.strip() == "ok"
    # The absolute symlink was resolved inside the rootfs instead.
    assert os.path.isdir(os.path.join(bundle.rootfs, host_dir.relative_to("/"), "sub"))


def test_proc_as_a_symlink_is_refused(pybox, bundle):
    # CVE-2019-16884: nothing may be mounted over /proc, and /proc itself must not be redirected.
    os.rmdir(os.path.join(bundle.rootfs, "proc"))
    os.symlink("/tmp", os.path.join(bundle.rootfs, "proc"))
    bundle.args("true")
    result = pybox("run", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "symlink" in result.stderr


def test_mounts_inside_proc_are_refused(pybox, bundle, tmp_path):
    (tmp_path / "f").write_text("x")
    bundle.config["mounts"].append({"destination": "/proc/self/attr/exec", "type": "bind",
                                    "source": str(tmp_path / "f"), "options": ["bind"]})
    bundle.args("true")
    result = pybox("run", "-b", bundle.path, "c1", check=False)
    assert result.returncode == 1 and "inside /proc" in result.stderr


def test_inheritable_and_ambient_are_empty_by_default(pybox, bundle):
    # CVE-2022-29162.
    bundle.config["process"]["capabilities"]["inheritable"] = []
    bundle.args("grep", "-E", "CapInh|CapAmb", "/proc/self/status")
    lines = pybox("run", "-b", bundle.path, "c1").stdout.split()
    assert lines == ["CapInh:", "0000000000000000", "CapAmb:", "0000000000000000"]


def test_host_mounts_are_not_visible_and_nothing_leaks_to_the_host(pybox, bundle):
    bundle.args("sh", "-c", "cat /proc/self/mountinfo")
    mount_points = [line.split()[4] for line in pybox("run", "-b", bundle.path, "c1").stdout.splitlines()]
    assert not [p for p in mount_points if p.startswith(("/tmp/", "/work", "/run/", "/opt", "/sys/fs/cgroup/memory/"))]
    with open("/proc/self/mountinfo") as f:
        assert bundle.rootfs not in f.read()


def test_state_directory_is_private(pybox, bundle):
    bundle.args("sleep", "1000")
    pybox("create", "-b", bundle.path, "c1")
    state_file = os.path.join(pybox.root, "c1", "state.json")
    assert os.stat(state_file).st_mode & 0o077 == 0
    json.loads(open(state_file).read())
    pybox("delete", "--force", "c1")
