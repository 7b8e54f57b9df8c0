import os

import pytest

from pybox.errors import PyboxError
from pybox.images.config import to_runtime_spec

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app,other\n"


@pytest.fixture
def rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return str(tmp_path)


def user_of(rootfs, text):
    return to_runtime_spec({"config": {"User": text}, "rootfs": {}}, rootfs, {})["process"]["user"]


def test_names_and_numbers(rootfs):
    assert user_of(rootfs, "") == {"uid": 0, "gid": 0}
    assert user_of(rootfs, "app") == {"uid": 1000, "gid": 1000, "additionalGids": [10, 29]}
    assert user_of(rootfs, "app:wheel")["gid"] == 10
    assert user_of(rootfs, "1000") == {"uid": 1000, "gid": 1000, "additionalGids": [10, 29]}
    assert user_of(rootfs, "4242") == {"uid": 4242, "gid": 0}
    assert user_of(rootfs, "4242:77") == {"uid": 4242, "gid": 77}


def test_unknown_names_are_errors(rootfs):
    with pytest.raises(PyboxError, match="no user 'ghost'"):
        user_of(rootfs, "ghost")
    with pytest.raises(PyboxError, match="no group 'ghosts'"):
        user_of(rootfs, "app:ghosts")


def test_passwd_symlink_to_the_host_is_read_inside_the_rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/passwd", tmp_path / "etc" / "passwd")  # the host's has a "root" entry
    with pytest.raises(PyboxError, match="no user 'root'"):
        user_of(str(tmp_path), "root")


def test_process_fields(rootfs):
    config = {"config": {"Entrypoint": ["/e"], "Cmd": ["a"], "Env": ["PATH=/x", "K=v"],
                         "WorkingDir": "/w"}, "rootfs": {}}
    spec = to_runtime_spec(config, rootfs, {"process": {"args": ["sh"], "env": ["PATH=/y", "TERM=xterm"]}})
    assert spec["process"]["args"] == ["/e", "a"] and spec["process"]["cwd"] == "/w"
    assert spec["process"]["env"] == ["PATH=/x", "TERM=xterm", "K=v", "HOME=/root"]
    assert to_runtime_spec({"config": {}, "rootfs": {}}, rootfs, {"process": {"args": ["sh"]}}
                           )["process"]["args"] == ["sh"]


def test_passwd_symlink_inside_the_rootfs_is_followed(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "passwd").write_text(PASSWD)
    os.symlink("../../../lib/passwd", tmp_path / "etc" / "passwd")  # ".." stops at the root
    assert user_of(str(tmp_path), "app")["uid"] == 1000


def test_passwd_fifo_does_not_hang(tmp_path):
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc" / "passwd")
    assert user_of(str(tmp_path), "") == {"uid": 0, "gid": 0}
