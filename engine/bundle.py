"""Image + docker run flags -> the bundle's config.json, with Docker's default confinement."""

import os

from pybox.errors import PyboxError
from pybox.engine import options as o

# Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
# moby oci/defaults.go
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_CGROUP_PARENT = "/pybox"
# --init: Debian's static tini, where docker puts its own (docker-init is tini too).
TINI = "/usr/bin/tini-static"
INIT_PATH = "/sbin/docker-init"


def build_spec(image_config, rootfs, v, box, etc_files, store):
    """The runtime config for `run` flags v; etc_files maps /etc/hosts etc. to host files."""
    from pybox.images.config import resolve_user, to_runtime_spec
    from pybox.runtime.defaults import default_spec
    cfg = (image_config.get("config") if "rootfs" in image_config else image_config) or {}
    o.check_user_text(cfg.get("User") or "", "image config User")
    spec = to_runtime_spec(image_config, rootfs, default_spec())
    o.check_user_ids(spec["process"]["user"], f"image config User {cfg.get('User') or ''!r}")
    process = spec["process"]
    process["args"] = command_line(cfg, v)
    if v["init"]:
        process["args"] = [INIT_PATH, "--", *process["args"]]
    process["terminal"] = bool(v["tty"])
    if v["tty"]:
        process["consoleSize"] = _terminal_size()
    process["noNewPrivileges"] = False
    if v["workdir"]:
        process["cwd"] = _absolute(v["workdir"], "--workdir")
    if v["user"]:
        o.check_user_text(v["user"], "--user")
        process["user"] = resolve_user(v["user"], rootfs)
        o.check_user_ids(process["user"], f"--user {v['user']!r}")
        _home_of_user(process, cfg, rootfs)
    process["env"] = _env(process["env"], v, box)
    process["capabilities"] = _capability_sets(v)
    process["rlimits"] = _rlimits(process.get("rlimits") or [], v["ulimit"])
    spec["root"] = {"path": rootfs, "readonly": bool(v["read_only"])}
    spec["hostname"] = box.data["hostname"]
    spec["annotations"] = {**spec.get("annotations", {}), **_labels(v["label"])}
    spec["mounts"] = _mounts(spec["mounts"], v, box, etc_files, store)
    spec["mounts"] += _image_volumes(cfg.get("Volumes") or {}, spec["mounts"], rootfs, box)
    _linux(spec, v, box)
    _security(spec, v)
    return spec


def command_line(cfg, v):
    """docker's rule: --entrypoint replaces the image's and drops its Cmd; a given CMD replaces Cmd."""
    if v["entrypoint"] is not None:
        entry = [v["entrypoint"]] if v["entrypoint"] else []
        args = entry + list(v["command"])
    else:
        args = list(cfg.get("Entrypoint") or []) + list(v["command"] or cfg.get("Cmd") or [])
    if not args:
        raise PyboxError("no command given and the image has no Entrypoint or Cmd")
    return args


def _env(env, v, box):
    from pybox.images.config import merge_env
    env = [e for e in env if not e.startswith("HOSTNAME=")] + [f"HOSTNAME={box.data['hostname']}"]
    if not v["tty"]:
        env = [e for e in env if not e.startswith("TERM=")]
    return merge_env(env, o.parse_env(v))


def _home_of_user(process, cfg, rootfs):
    """-u changes HOME to that user's, unless the image or -e set it."""
    from pybox.images.config import home_of
    given = [e for e in cfg.get("Env") or [] if e.startswith("HOME=")]
    if not given:
        home = "HOME=" + home_of(process["user"]["uid"], rootfs)
        process["env"] = [e for e in process["env"] if not e.startswith("HOME=")] + [home]


def _labels(texts):
    labels = {}
    for text in texts:
        key, _, value = text.partition("=")
        if not key:
            raise PyboxError(f"--label {text!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _absolute(path, flag):
    if not path.startswith("/"):
        raise PyboxError(f"{flag} {path!r}: must be an absolute path")
    return path


def _terminal_size():
    from pybox.runtime.console import get_size
    try:
        rows, cols = get_size(0)
        return {"height": rows, "width": cols}
    except OSError:
        return {"height": 24, "width": 80}


def all_cap_names():
    """Every capability pybox's own bounding set holds (podman's rule for ALL and --privileged)."""
    from pybox.runtime.spec import CAPABILITIES
    with open("/proc/self/status") as f:
        bounding = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return [name for bit, name in enumerate(CAPABILITIES) if bounding >> bit & 1]


def _capability_sets(v):
    if v["privileged"]:
        caps = all_cap_names()
    else:
        caps = list(DOCKER_CAPS)
        for kind, names in (("add", v["cap_add"]), ("drop", v["cap_drop"])):
            for name in names:
                wanted = all_cap_names() if name.upper() == "ALL" else [_cap_name(name)]
                if kind == "add":
                    caps += [c for c in wanted if c not in caps]
                else:
                    caps = [c for c in caps if c not in wanted]
    return {kind: list(caps) for kind in ("bounding", "effective", "permitted")}


def _cap_name(name):
    full = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
    if full not in all_cap_names():
        raise PyboxError(f"unknown capability {name!r}")
    return full


def _rlimits(base, ulimits):
    limits = {r["type"]: r for r in base}
    for text in ulimits:
        rlimit = o.parse_ulimit(text)
        limits[rlimit["type"]] = rlimit
    return list(limits.values())


def _mounts(mounts, v, box, etc_files, store):
    extra = [o.parse_volume(text, store) for text in v["volume"]]
    extra += [o.parse_tmpfs(text) for text in v["tmpfs"]]
    for dest, source in etc_files.items():
        extra.append({"destination": dest, "type": "bind", "source": source,
                      "options": ["rbind", "rw" if not v["read_only"] else "ro"]})
    if v["init"]:
        if not os.path.isfile(TINI):
            raise PyboxError(f"--init needs {TINI} (Debian's tini package)")
        extra.append({"destination": INIT_PATH, "type": "bind", "source": TINI, "options": ["bind", "ro"]})
    taken = {m["destination"] for m in extra}
    if box.data["network"] == "host":
        taken.add("/sys")  # docker: sysfs of the host's network namespace is bound, not mounted
        extra.insert(0, {"destination": "/sys", "type": "bind", "source": "/sys",
                         "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    kept = [m for m in mounts if m["destination"] not in taken]
    if v["privileged"]:  # docker: a privileged container's /sys (and cgroup view) is writable
        kept = [dict(m, options=[o for o in m.get("options") or [] if o != "ro"])
                if m["destination"] in ("/sys", "/sys/fs/cgroup") else m for m in kept]
    return kept + extra


def _image_volumes(volumes, mounts, rootfs, box):
    """The image's VOLUMEs get anonymous volumes, as docker gives them: a directory of the
    container's own, seeded with what the image holds there, so writes stay off the rootfs.
    They go when the container goes (with its bundle directory)."""
    import hashlib
    taken = [m["destination"].rstrip("/") or "/" for m in mounts]
    made = []
    for dest in sorted(volumes):
        dest = _absolute(dest, "image VOLUME")
        if any(dest == t or dest.startswith(t.rstrip("/") + "/") for t in taken if t != "/"):
            continue
        source = box.path("volumes", hashlib.sha256(dest.encode()).hexdigest()[:16])
        os.makedirs(source, 0o755, exist_ok=True)
        _seed_volume(rootfs, dest, source)
        made.append({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rw"]})
    return made


def _seed_volume(rootfs, dest, source):
    """Copy what the image has at dest, resolved inside the rootfs: a hostile image's symlinks
    must not make pybox copy host files into the container, nor its device nodes make pybox
    read the host's devices (they are recreated, as docker does)."""
    from pybox import kernel as k
    from pybox.engine.tree import copy_tree
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = k.openat2(root_fd, dest.lstrip("/"), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                       resolve=k.RESOLVE_IN_ROOT | k.RESOLVE_NO_MAGICLINKS)
    except OSError:
        return  # nothing there in the image, or not a directory: the volume starts empty
    finally:
        os.close(root_fd)
    try:
        target = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            copy_tree(fd, target)
        except OSError as err:
            raise PyboxError(f"image VOLUME {dest}: copying the image's files into the volume "
                             f"failed: {err.strerror or err}") from None
        finally:
            os.close(target)
    finally:
        os.close(fd)


def _linux(spec, v, box):
    linux = spec["linux"]
    parent = v["cgroup_parent"] or os.environ.get("PYBOX_CGROUP_PARENT") or DEFAULT_CGROUP_PARENT
    linux["cgroupsPath"] = f"{parent.rstrip('/')}/{box.id}"
    linux["namespaces"] = _namespaces(linux["namespaces"], box.data["network"], box)
    linux["resources"] = _resources(linux.get("resources") or {}, v)
    if v["privileged"]:
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        linux["devices"] = host_devices()
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []
    else:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)


# Not devices of their own: docker leaves these to the container's own mounts.
_HOST_DEVICE_SKIP = {"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx", "/dev/tty"}


def host_devices(top="/dev"):
    """Every character and block device of the host, as linux.devices entries (docker's --privileged)."""
    import stat
    found = []
    for directory, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) not in _HOST_DEVICE_SKIP]
        for name in sorted(names):
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
            if kind and path not in _HOST_DEVICE_SKIP:
                found.append({"path": path, "type": kind, "major": os.major(st.st_rdev),
                              "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                              "uid": st.st_uid, "gid": st.st_gid})
    return found


def _namespaces(namespaces, network, box):
    kept = [ns for ns in namespaces if ns["type"] != "network"]
    if network == "host":
        return kept
    if network.startswith("container:"):
        return kept + [{"type": "network", "path": box.data["netns_path"]}]
    return kept + [{"type": "network"}]


def _resources(resources, v):
    if v["memory"]:
        limit = o.parse_bytes(v["memory"], "--memory")
        resources["memory"] = {"limit": limit}
    cpu = {}
    if v["cpus"]:
        try:
            cpus = float(v["cpus"])
        except ValueError:
            cpus = 0
        if cpus <= 0:
            raise PyboxError(f"--cpus {v['cpus']!r}: expected a positive number like 1.5")
        cpu.update(period=100000, quota=int(cpus * 100000))
    if v["cpu_shares"]:
        cpu["shares"] = _positive(v["cpu_shares"], "--cpu-shares")
    if cpu:
        resources["cpu"] = cpu
    if v["pids_limit"]:
        resources["pids"] = {"limit": _positive(v["pids_limit"], "--pids-limit")}
    return resources


def _positive(text, flag):
    if not text.isdigit() or int(text) <= 0:
        raise PyboxError(f"{flag} {text!r}: expected a positive whole number")
    return int(text)


def _security(spec, v):
    process, linux = spec["process"], spec["linux"]
    seccomp = "default"
    for opt in v["security_opt"]:
        key, _, value = opt.replace(":", "=", 1).partition("=")
        if key == "seccomp" and value:
            seccomp = value
        elif key == "no-new-privileges" and value in ("", "true"):
            process["noNewPrivileges"] = True
        elif key == "no-new-privileges" and value == "false":
            process["noNewPrivileges"] = False
        elif key in ("label", "apparmor") and value in ("disable", "unconfined"):
            continue  # pybox applies no LSM profile
        else:
            raise PyboxError(f"--security-opt {opt!r}: pybox knows seccomp=unconfined|FILE and "
                             "no-new-privileges")
    if v["privileged"] and seccomp == "default":
        seccomp = "unconfined"
    if seccomp == "unconfined":
        linux.pop("seccomp", None)
    elif seccomp == "default":
        from pybox.seccomp import default_profile
        linux["seccomp"] = default_profile(process["capabilities"]["effective"])
    else:
        linux["seccomp"] = _profile_file(seccomp)


def _profile_file(path):
    from pybox import jsonio
    try:
        return jsonio.load_file(path)
    except OSError as err:
        raise PyboxError(f"--security-opt seccomp={path}: {err.strerror}") from None
    except ValueError as err:
        raise PyboxError(f"--security-opt seccomp={path}: not valid JSON: {err}") from None
