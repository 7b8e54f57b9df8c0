"""Mode detection and v1 layouts this host does not have (legacy, co-mounted cpu,cpuacct)."""

import pytest

from pybox.cgroups import hierarchy
from pybox.cgroups.v1 import open_v1

LEGACY = """\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 30 0:30 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
"""
LEGACY_SELF = "4:pids:/docker/abc/inner\n3:memory:/user/1\n2:cpu,cpuacct:/\n1:name=systemd:/user/1\n"
UNIFIED = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"


def _discover(tmp_path, mountinfo, self_cgroup):
    (tmp_path / "mountinfo").write_text(mountinfo)
    (tmp_path / "cgroup").write_text(self_cgroup)
    return hierarchy.discover(str(tmp_path / "mountinfo"), str(tmp_path / "cgroup"))


def test_legacy_layout_and_comounted_symlinks(tmp_path):
    mode, found = _discover(tmp_path, LEGACY, LEGACY_SELF)
    assert mode == "legacy"
    assert set(found) == {"name=systemd", "cpu,cpuacct", "memory", "pids"}
    own = hierarchy.own_cgroups(str(tmp_path / "cgroup"))
    mgr = open_v1(lambda key: hierarchy.resolve("c", "id", own[key]), found)
    assert mgr.dir_of("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct/c"
    assert mgr.dir_of("memory") == "/sys/fs/cgroup/memory/user/1/c"
    # the pids mount shows /docker/abc as its root, as inside a container
    assert mgr.dir_of("pids") == "/sys/fs/cgroup/pids/inner/c"
    plan = mgr.mount_plan()
    assert {"subdir": "cpu,cpuacct", "fstype": "cgroup", "data": "cpu,cpuacct",
            "host_path": "/sys/fs/cgroup/cpu,cpuacct/c"} in plan
    assert plan[-1] == {"symlinks": {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct"}}
    assert mgr.unified_dir() is None


def test_unified_layout(tmp_path):
    mode, found = _discover(tmp_path, UNIFIED, "0::/user.slice/session-1.scope\n")
    assert mode == "unified" and found[""].mountpoint == "/sys/fs/cgroup"


def test_nothing_mounted(tmp_path):
    with pytest.raises(Exception, match="no cgroup hierarchy"):
        _discover(tmp_path, "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "0::/\n")
