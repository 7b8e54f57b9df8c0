"""pybox.cgroups: one Manager interface over cgroup v2, v1/hybrid and (not yet) systemd.

    mgr = open_manager(cgroups_path, container_id, systemd=False)
    mgr.create(); mgr.apply(resources); mgr.add(pid); ...; mgr.destroy()
    record = mgr.to_record()  ->  load_manager(record) later, from the state file

Kept light: the backends are imported only when a manager is opened or loaded.
"""

from pybox.errors import PyboxError


def open_manager(cgroups_path, container_id, systemd=False):
    """Pick the backend once, from how this host mounts cgroups, and resolve the container's path."""
    if systemd:
        from pybox.cgroups.systemd import open_systemd
        return open_systemd(cgroups_path, container_id)
    from pybox.cgroups import hierarchy
    mode, hierarchies, own = hierarchy.snapshot()
    if mode == "unified":
        from pybox.cgroups.v2 import open_v2
        return open_v2(hierarchy.resolve(cgroups_path, container_id, own.get("", "/")),
                       hierarchies[""])
    from pybox.cgroups.v1 import open_v1
    return open_v1(lambda key: hierarchy.resolve(cgroups_path, container_id, own.get(key, "/")),
                   hierarchies)


def load_manager(record):
    """The manager a state file recorded with to_record()."""
    driver = record.get("driver") if isinstance(record, dict) else None
    if driver == "v2":
        from pybox.cgroups.v2 import V2Manager
        return V2Manager(record["path"], record["dir"], record.get("created", ()))
    if driver == "v1":
        from pybox.cgroups.v1 import V1Manager
        return V1Manager(record["path"], record["hierarchies"], record.get("created", ()))
    raise PyboxError(f"unknown cgroup driver {driver!r} in the container state")
