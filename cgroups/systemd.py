"""The systemd cgroup driver: cgroupsPath "slice:prefix:name", units created over D-Bus.

pybox does not speak D-Bus yet; it checks the path and that systemd runs, so the failure is one
clear line instead of a cgroup created behind systemd's back.
"""

import os

from pybox.errors import PyboxError


def parse_path(cgroups_path, container_id):
    """runc's form: "slice:prefix:name"; empty means "system.slice:pybox:<id>"."""
    if not cgroups_path:
        return "system.slice", "pybox", container_id
    parts = cgroups_path.split(":")
    if len(parts) != 3 or any("/" in p for p in parts):
        raise PyboxError(f"linux.cgroupsPath: {cgroups_path!r} must be slice:prefix:name "
                         "with the systemd cgroup driver")
    return parts[0] or "system.slice", parts[1], parts[2] or container_id


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def open_systemd(cgroups_path, container_id):
    parse_path(cgroups_path, container_id)
    if not systemd_running():
        raise PyboxError("--systemd-cgroup: systemd is not running on this host "
                         "(no /run/systemd/system); use the default cgroupfs driver")
    raise PyboxError("--systemd-cgroup: the systemd cgroup driver is not supported yet; "
                     "use the default cgroupfs driver")
