"""Mount options of config.json turned into mount(2) flags, propagation, recursive attributes and data."""

from pybox import kernel as k

# option: (flags to set, flags to clear)
FLAGS = {
    "ro": (k.MS_RDONLY, 0), "rw": (0, k.MS_RDONLY),
    "nosuid": (k.MS_NOSUID, 0), "suid": (0, k.MS_NOSUID),
    "nodev": (k.MS_NODEV, 0), "dev": (0, k.MS_NODEV),
    "noexec": (k.MS_NOEXEC, 0), "exec": (0, k.MS_NOEXEC),
    "sync": (k.MS_SYNCHRONOUS, 0), "async": (0, k.MS_SYNCHRONOUS),
    "dirsync": (k.MS_DIRSYNC, 0), "remount": (k.MS_REMOUNT, 0),
    "mand": (k.MS_MANDLOCK, 0), "nomand": (0, k.MS_MANDLOCK),
    "noatime": (k.MS_NOATIME, 0), "atime": (0, k.MS_NOATIME),
    "nodiratime": (k.MS_NODIRATIME, 0), "diratime": (0, k.MS_NODIRATIME),
    "relatime": (k.MS_RELATIME, 0), "norelatime": (0, k.MS_RELATIME),
    "strictatime": (k.MS_STRICTATIME, 0), "nostrictatime": (0, k.MS_STRICTATIME),
    "lazytime": (k.MS_LAZYTIME, 0), "nolazytime": (0, k.MS_LAZYTIME),
    "silent": (k.MS_SILENT, 0), "loud": (0, k.MS_SILENT),
    "nosymfollow": (k.MS_NOSYMFOLLOW, 0), "symfollow": (0, k.MS_NOSYMFOLLOW),
    "bind": (k.MS_BIND, 0), "rbind": (k.MS_BIND | k.MS_REC, 0),
}
PROPAGATION = {
    "private": k.MS_PRIVATE, "rprivate": k.MS_PRIVATE | k.MS_REC,
    "shared": k.MS_SHARED, "rshared": k.MS_SHARED | k.MS_REC,
    "slave": k.MS_SLAVE, "rslave": k.MS_SLAVE | k.MS_REC,
    "unbindable": k.MS_UNBINDABLE, "runbindable": k.MS_UNBINDABLE | k.MS_REC,
}
# Recursive variants applied to the whole mount tree with mount_setattr(AT_RECURSIVE):
# option: (attributes to set, attributes to clear)
RECURSIVE = {
    "rro": (k.MOUNT_ATTR_RDONLY, 0), "rrw": (0, k.MOUNT_ATTR_RDONLY),
    "rnosuid": (k.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, k.MOUNT_ATTR_NOSUID),
    "rnodev": (k.MOUNT_ATTR_NODEV, 0), "rdev": (0, k.MOUNT_ATTR_NODEV),
    "rnoexec": (k.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, k.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (k.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, k.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (k.MOUNT_ATTR_RELATIME, k.MOUNT_ATTR__ATIME),
    "rnorelatime": (0, k.MOUNT_ATTR__ATIME),
    "rnoatime": (k.MOUNT_ATTR_NOATIME, k.MOUNT_ATTR__ATIME), "ratime": (0, k.MOUNT_ATTR__ATIME),
    "rstrictatime": (k.MOUNT_ATTR_STRICTATIME, k.MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, k.MOUNT_ATTR__ATIME),
    "rnosymfollow": (k.MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, k.MOUNT_ATTR_NOSYMFOLLOW),
}
UNSUPPORTED = set()
IDMAP = {"idmap": False, "ridmap": True}  # option: recursive


class MountOptions:
    __slots__ = ("flags", "clear", "propagation", "rec_set", "rec_clear", "data", "idmap", "copy_up")

    def __init__(self):
        self.flags = 0
        self.clear = 0
        self.propagation = []
        self.rec_set = 0
        self.rec_clear = 0
        self.data = []
        self.idmap = None  # None, or whether the id mapping applies to submounts too
        self.copy_up = False  # tmpcopyup (runc's and podman's): the tmpfs starts with what it covers

    @property
    def is_bind(self):
        return bool(self.flags & k.MS_BIND)

    @property
    def data_string(self):
        return ",".join(self.data) or None


def parse_options(options):
    """Split the option list; ValueError names an option pybox cannot honour."""
    parsed = MountOptions()
    for opt in options:
        if not isinstance(opt, str):
            raise ValueError(f"option {opt!r} is not a string")
        if opt in FLAGS:
            on, off = FLAGS[opt]
            parsed.flags = (parsed.flags | on) & ~off
            parsed.clear |= off
        elif opt in PROPAGATION:
            parsed.propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            on, off = RECURSIVE[opt]
            parsed.rec_set = (parsed.rec_set & ~off) | on
            parsed.rec_clear |= off
        elif opt == "tmpcopyup":
            parsed.copy_up = True
        elif opt == "notmpcopyup":
            parsed.copy_up = False
        elif opt in IDMAP:
            parsed.idmap = IDMAP[opt]
        elif opt in UNSUPPORTED:
            raise ValueError(f"option {opt!r} is not supported by pybox yet")
        else:
            parsed.data.append(opt)
    return parsed
