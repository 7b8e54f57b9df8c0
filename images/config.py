"""Image config → OCI runtime config, as podman and containerd do it.

User names are looked up in the image's own /etc/passwd and /etc/group, read through openat2
with RESOLVE_IN_ROOT: the image is untrusted, and its /etc/passwd may be a symlink to the host's.
"""

import copy
import os

from pybox.errors import PyboxError

EXPOSED_PORTS = "org.opencontainers.image.exposedPorts"
VOLUMES = "org.opencontainers.image.volumes"
STOP_SIGNAL = "org.opencontainers.image.stopSignal"
_MAX_DB = 4 << 20  # an /etc/passwd larger than this is not read


def to_runtime_spec(image_config, rootfs_path, base_spec):
    """A copy of base_spec with the image's process, user, annotations and root path."""
    cfg = image_config.get("config", image_config) if "rootfs" in image_config else image_config
    cfg = cfg or {}
    spec = copy.deepcopy(base_spec)
    spec.setdefault("root", {})["path"] = rootfs_path
    process = spec.setdefault("process", {})
    args = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if args:
        process["args"] = args
    process["cwd"] = cfg.get("WorkingDir") or "/"
    process["env"] = merge_env(process.get("env", []), cfg.get("Env") or [])
    process["user"] = resolve_user(cfg.get("User") or "", rootfs_path)
    if not any(e.startswith("HOME=") for e in process["env"]):
        process["env"].append("HOME=" + home_of(process["user"]["uid"], rootfs_path))
    spec["annotations"] = {**spec.get("annotations", {}), **annotations(cfg)}
    return spec


def merge_env(base, image_env):
    """The image's variables replace the base defaults of the same name (PATH in particular)."""
    merged = {}
    for entry in list(base) + list(image_env):
        name, _, _ = entry.partition("=")
        merged[name] = entry
    return list(merged.values())


def annotations(cfg):
    result = dict(cfg.get("Labels") or {})
    if cfg.get("ExposedPorts"):
        result[EXPOSED_PORTS] = ",".join(sorted(cfg["ExposedPorts"]))
    if cfg.get("Volumes"):
        result[VOLUMES] = ",".join(sorted(cfg["Volumes"]))
    if cfg.get("StopSignal"):
        result[STOP_SIGNAL] = cfg["StopSignal"]
    return result


def resolve_user(text, rootfs):
    """"user", "uid", "user:group", "uid:gid" → an OCI process.user."""
    user, _, group = text.partition(":")
    passwd = read_db(rootfs, "etc/passwd")
    uid, gid, name = 0, 0, "root"
    if user:
        entry = _find(passwd, user)
        if entry is not None:
            name, uid, gid = entry[0], int(entry[2]), int(entry[3])
        elif user.isdigit():
            uid, name = int(user), None  # gid stays 0, as runc does for an unknown uid
            by_uid = _find(passwd, user, field=2)
            if by_uid is not None:
                name, gid = by_uid[0], int(by_uid[3])
        else:
            raise PyboxError(f"image config User {text!r}: no user {user!r} in the image's /etc/passwd")
    groups = read_db(rootfs, "etc/group")
    if group:
        gid = _group_id(group, groups, text)
    extra = sorted({int(g[2]) for g in groups if name and len(g) > 3 and name in g[3].split(",")
                    and g[2].isdigit()} - {gid})
    result = {"uid": uid, "gid": gid}
    if extra:
        result["additionalGids"] = extra
    return result


def _group_id(group, groups, text):
    for row in groups:
        if len(row) > 2 and group in (row[0], row[2]) and row[2].isdigit():
            return int(row[2])
    if group.isdigit():
        return int(group)
    raise PyboxError(f"image config User {text!r}: no group {group!r} in the image's /etc/group")


def home_of(uid, rootfs):
    entry = _find(read_db(rootfs, "etc/passwd"), str(uid), field=2)
    return entry[5] if entry is not None and len(entry) > 5 and entry[5] else "/"


def _find(rows, key, field=0):
    for row in rows:
        if len(row) > 3 and row[field] == key and row[2].isdigit() and row[3].isdigit():
            return row
    return None


def read_db(rootfs, path):
    """The rows of /etc/passwd or /etc/group inside rootfs; none if it is missing or odd."""
    from pybox import kernel
    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        # O_NONBLOCK: a hostile image's /etc/passwd may be a fifo that would block the open.
        fd = kernel.openat2(root, path, os.O_RDONLY | os.O_NONBLOCK, resolve=kernel.RESOLVE_IN_ROOT)
    except OSError:
        return []
    finally:
        os.close(root)
    import stat
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return []
    with os.fdopen(fd, "rb") as f:
        data = f.read(_MAX_DB)
    return [line.split(":") for line in data.decode("utf-8", "replace").splitlines()
            if line and not line.startswith("#")]
