"""The container init's pure logic, without a container: mount options, paths inside the root,
capability sets and finding the program (runtime/init/)."""

import os

import pytest

from pybox import kernel as k
from pybox.runtime.init import mountopts, paths
from pybox.runtime.init import process as proc

# mount options


def test_flags_set_and_clear_in_order():
    opts = mountopts.parse_options(["ro", "nosuid", "rw", "nodev"])
    assert opts.flags == k.MS_NOSUID | k.MS_NODEV
    assert opts.clear & k.MS_RDONLY  # "rw" clears what a remount would keep


def test_bind_and_rbind():
    assert mountopts.parse_options(["bind"]).is_bind
    rbind = mountopts.parse_options(["rbind", "ro"])
    assert rbind.flags == k.MS_BIND | k.MS_REC | k.MS_RDONLY


def test_propagation_is_kept_in_order():
    opts = mountopts.parse_options(["rprivate", "shared"])
    assert opts.propagation == [k.MS_PRIVATE | k.MS_REC, k.MS_SHARED]


def test_recursive_atime_options_replace_each_other():
    opts = mountopts.parse_options(["rnoatime", "rstrictatime"])
    assert opts.rec_set == k.MOUNT_ATTR_STRICTATIME
    assert opts.rec_clear & k.MOUNT_ATTR__ATIME
    assert mountopts.parse_options(["rro", "rrw"]).rec_set == 0


def test_unknown_options_go_to_the_filesystem_as_data():
    opts = mountopts.parse_options(["mode=755", "size=65536k", "nosuid"])
    assert opts.data_string == "mode=755,size=65536k"
    assert mountopts.parse_options([]).data_string is None


def test_tmpcopyup_and_idmap():
    assert mountopts.parse_options(["tmpcopyup"]).copy_up
    assert not mountopts.parse_options(["tmpcopyup", "notmpcopyup"]).copy_up
    assert mountopts.parse_options(["idmap"]).idmap is False
    assert mountopts.parse_options(["ridmap"]).idmap is True


def test_an_option_that_is_not_a_string_is_refused():
    with pytest.raises(ValueError, match="not a string"):
        mountopts.parse_options(["ro", 7])


# paths inside the root: a hostile image's symlinks must not lead out


@pytest.fixture
def root(tmp_path):
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("host")
    os.symlink("/", tmp_path / "root" / "abs")
    os.symlink("../../outside", tmp_path / "root" / "up")
    fd = os.open(tmp_path / "root", os.O_PATH | os.O_DIRECTORY)
    yield tmp_path, fd
    os.close(fd)


def _real(fd):
    try:
        return os.readlink(paths.fd_path(fd))
    finally:
        os.close(fd)


def test_absolute_and_dotdot_symlinks_resolve_inside_the_root(root):
    tmp, fd = root
    assert _real(paths.open_in_root(fd, "/abs/etc")) == str(tmp / "root" / "etc")
    assert _real(paths.open_in_root(fd, "/../../../etc")) == str(tmp / "root" / "etc")
    with pytest.raises(FileNotFoundError):
        paths.open_in_root(fd, "/up/secret")  # ../../outside from inside the root is the root


def test_make_in_root_creates_the_missing_parents_inside(root):
    tmp, fd = root
    made = paths.make_in_root(fd, "/abs/a/b")  # "abs" is "/", the root itself: a/b lands inside
    assert _real(made) == str(tmp / "root" / "a" / "b")
    with pytest.raises(FileNotFoundError):  # "up" dangles inside the root: nothing is made through it
        paths.make_in_root(fd, "/up/c")
    assert not (tmp / "outside" / "c").exists() and not (tmp / "c").exists()
    assert _real(paths.make_in_root(fd, "/abs/file", directory=False)) == str(tmp / "root" / "file")
    assert (tmp / "root" / "file").is_file()


# capabilities and the program


def test_cap_mask():
    assert proc.cap_mask(["CAP_CHOWN", "CAP_KILL"]) == (1 << 0) | (1 << 5)
    assert proc.cap_mask([]) == proc.cap_mask(None) == 0


def test_find_executable_uses_the_path_of_the_container(tmp_path):
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "bin" / "plain").write_text("")
    assert proc.find_executable("tool", {"PATH": f"/nonexistent:{tmp_path}/bin"}) == str(tool)
    with pytest.raises(Exception, match="not found"):
        proc.find_executable("plain", {"PATH": f"{tmp_path}/bin"})
    with pytest.raises(Exception, match="permission denied"):
        proc.find_executable(str(tmp_path / "bin" / "plain"), {})
