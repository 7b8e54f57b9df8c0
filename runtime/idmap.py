"""User namespaces that only carry an id mapping, for id-mapped bind mounts (mount option idmap)."""

import os

from pybox import kernel as k
from pybox.errors import PyboxError


def mapped_userns(uid_maps, gid_maps):
    """An fd of a new, otherwise empty user namespace with these uid/gid mappings."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # lives only until the parent has opened its namespace
        try:
            os.close(ready_r)
            os.close(done_w)
            k.unshare(k.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise PyboxError("could not create a user namespace for an id-mapped mount")
        from pybox.runtime.launch import write_id_maps
        from pybox.runtime.schema import LINUX
        from pybox.runtime.view import View
        write_id_maps(pid, View({"uidMappings": uid_maps, "gidMappings": gid_maps}, LINUX))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def idmap_fds(config):
    """{id(mount's JSON): userns fd} for each mount with the idmap or ridmap option.

    A mount's own uidMappings/gidMappings are used, else the container's (runc does the same).
    Keyed by the mount's JSON object itself (View.raw): the init sees the same objects after fork.
    """
    from pybox.runtime.init.mountopts import parse_options
    linux = config.linux
    fds = {}
    for m in config.mounts:
        if parse_options(m.options).idmap is not None:
            fds[id(m.raw)] = mapped_userns(m.raw.get("uidMappings") or linux.raw.get("uidMappings"),
                                           m.raw.get("gidMappings") or linux.raw.get("gidMappings"))
    return fds
