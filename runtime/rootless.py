"""What a non-root caller needs (taken only when geteuid() != 0, so root's path never imports this).

Id maps: the caller's own id alone is written directly (after "deny" to setgroups, as the kernel
requires of an unprivileged writer); anything wider goes through Debian's newuidmap/newgidmap,
which check /etc/subuid and /etc/subgid. Cgroups: as runc does, a user with no delegated cgroup
runs without one, unless the config asks for resources, which then fail with one line.
"""

import errno
import os

from pybox.errors import PyboxError

_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _lines(maps):
    return [(m.containerID, m.hostID, m.size) for m in maps]


def write_id_maps_rootless(pid, linux):
    write_id_lines(pid, _lines(linux.uidMappings), _lines(linux.gidMappings))


def write_id_lines(pid, uids, gids, fields=("linux.uidMappings", "linux.gidMappings")):
    """uids, gids: (inside, host, count) lines; fields name them in errors."""
    own_uid, own_gid = os.geteuid(), os.getegid()
    if (len(uids) <= 1 and len(gids) <= 1 and all(h == own_uid and s == 1 for _, h, s in uids)
            and all(h == own_gid and s == 1 for _, h, s in gids)):
        if gids:
            _write(pid, "setgroups", "deny", fields[1])
        for field, name, lines in ((fields[0], "uid_map", uids), (fields[1], "gid_map", gids)):
            if lines:
                _write(pid, name, "".join(f"{c} {h} {s}\n" for c, h, s in lines), field)
        return
    for field, tool, lines in ((fields[0], "newuidmap", uids), (fields[1], "newgidmap", gids)):
        if lines:
            _run_tool(pid, field, tool, lines)


def _write(pid, name, text, field):
    try:
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)
    except OSError as err:
        raise PyboxError(f"{field}: writing {name}: {err.strerror}") from None


def _run_tool(pid, field, tool, lines):
    import shutil
    import subprocess
    path = shutil.which(tool) or shutil.which(tool, path="/usr/bin:/usr/sbin:/bin:/sbin")
    if path is None:
        raise PyboxError(f"{field}: a range beyond your own id needs {tool} (Debian's uidmap package)")
    argv = [path, str(pid)] + [str(n) for line in lines for n in line]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=10)
    except subprocess.TimeoutExpired:
        raise PyboxError(f"{field}: {tool} did not finish in 10 s") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise PyboxError(f"{field}: {tool}: {why[-1] if why else f'exit status {done.returncode}'}")


def resources_asked(config):
    """Whether linux.resources asks for anything beyond the device rules (runc's test)."""
    raw = config.linux.raw.get("resources") or {}
    return any(value not in (None, {}, [], "") for key, value in raw.items() if key != "devices")


def open_cgroup_rootless(config, container_id, opts):
    """The container's cgroup, made now, or None when the caller has none delegated."""
    from pybox.cgroups import open_manager
    try:
        manager = open_manager(config.linux.cgroupsPath, container_id, systemd=opts.systemd_cgroup)
        manager.create()
    except PyboxError as err:
        if err.errno not in _DENIED:
            raise
        try:
            manager.destroy()
        except (NameError, PyboxError, OSError):
            pass
        if resources_asked(config):
            raise PyboxError("linux.resources: rootless: no cgroup delegated to this user "
                             f"to apply resources in ({err.message})") from None
        return None
    if config.resources is not None:
        # As runc's fs2 manager when rootless: no device filter. Loading a cgroup device program
        # needs CAP_SYS_ADMIN on the host, and a user namespace can neither mknod nor open the
        # host's devices beyond the ones bound in.
        config.resources.devices_given = False
    return manager
