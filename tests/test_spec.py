"""config.json checks, without root: every error names its JSON path."""

import pytest

from pybox import kernel as k
from pybox.errors import PyboxError
from pybox.runtime.defaults import default_spec
from pybox.runtime.init.mountopts import parse_options
from pybox.runtime.spec import validate


@pytest.fixture
def config(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return default_spec(), str(tmp_path)


def no_mount_namespace(config, hostname=None, **linux):
    """A config with no mount namespace of its own and nothing that needs one, then `linux`."""
    config.update(mounts=[], root=dict(config["root"], readonly=False), linux=dict({"namespaces": []}, **linux))
    if hostname:
        config["hostname"] = hostname


def check(config, bundle):
    validate(config, bundle)


def test_the_default_spec_is_valid(config):
    check(*config)


@pytest.mark.parametrize("mutate, path", [
    (lambda c: c.update(ociVersion=2), "ociVersion"),
    (lambda c: c.update(ociVersion="2.0.0"), "ociVersion"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd"),
    (lambda c: c["process"].update(env=["NOEQUALS"]), "process.env[0]"),
    (lambda c: c["process"]["user"].update(uid="0"), "process.user.uid"),
    (lambda c: c["process"].update(oomScoreAdj=5000), "process.oomScoreAdj"),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]), "process.rlimits[0]"),
    (lambda c: c["process"].update(scheduler={"policy": "SCHED_NOPE"}), "process.scheduler.policy"),
    (lambda c: c["process"].update(ioPriority={"class": "X"}), "process.ioPriority.class"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[6].type"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "linux.uidMappings"),
    (lambda c: c["linux"].update(sysctl={"kernel.shmmax": 1}), "linux.sysctl.kernel.shmmax"),
    (lambda c: c["linux"].update(devices=[{"type": "x", "path": "/dev/a"}]), "linux.devices[0].type"),
    (lambda c: c["linux"].update(rootfsPropagation="sideways"), "linux.rootfsPropagation"),
    (lambda c: c["linux"].update(personality={"domain": "WIN32"}), "linux.personality.domain"),
    (lambda c: c.update(hooks={"prestart": [{"path": "rel"}]}), "hooks.prestart[0].path"),
    (lambda c: c.update(hooks={"sometime": []}), "hooks.sometime"),
    (lambda c: c["mounts"].append({"destination": "/x", "options": ["idmap"]}), "mounts[7].options"),
    (lambda c: c["mounts"].append({"destination": "/x", "type": "bind"}), "mounts[7].source"),
    (lambda c: c.update(annotations={"a": 1}), "annotations.a"),
    (lambda c: no_mount_namespace(c, hostname="h"), "hostname"),
    (lambda c: c["linux"].update(namespaces=[]), "mounts"),
    (lambda c: no_mount_namespace(c, maskedPaths=["/proc/kcore"]), "linux.maskedPaths"),
    (lambda c: c["linux"].update(devices=[{"type": "c", "path": "/dev/..", "major": 1, "minor": 3}]),
     "linux.devices[0].path"),
])
def test_errors_name_the_field(config, mutate, path):
    spec, bundle = config
    mutate(spec)
    with pytest.raises(PyboxError) as err:
        check(spec, bundle)
    assert f"config.json: {path}:" in str(err.value)


def test_a_mount_namespace_joined_by_path_takes_mounts_and_devices_outside_dev(config):
    # runc sets the rootfs up in a joined mount namespace too, and makes devices at any path.
    spec, bundle = config
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == "mount":
            ns["path"] = "/proc/self/ns/mnt"
    spec["linux"]["devices"] = [{"type": "c", "path": "/opt/dev/a", "major": 1, "minor": 3}]
    spec["linux"]["sysctl"] = {"kernel.domainname": "example"}
    check(spec, bundle)


def test_mount_options():
    opts = parse_options(["rbind", "ro", "nosuid", "rprivate", "rro", "size=1m", "mode=755"])
    assert opts.flags == k.MS_BIND | k.MS_REC | k.MS_RDONLY | k.MS_NOSUID
    assert opts.propagation == [k.MS_PRIVATE | k.MS_REC]
    assert opts.rec_set == k.MOUNT_ATTR_RDONLY
    assert opts.data_string == "size=1m,mode=755"
    assert parse_options(["ro", "rw"]).flags & k.MS_RDONLY == 0
