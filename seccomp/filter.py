"""The compiled filter the runtime carries from the parent into the container init."""

# seccomp(2) filter flags a profile may ask for; NEW_LISTENER and TSYNC_ESRCH are the runtime's.
# They live here, not in profile.py, so a start that loads from the cache never imports the validator.
FLAG_TSYNC = 1
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}


class Filter:
    """program: packed struct sock_filter array; flags: for seccomp(2); the rest for NOTIFY."""

    __slots__ = ("program", "flags", "notify", "listener_path", "listener_metadata", "skipped", "cached")

    def __init__(self, program, profile, skipped=(), cached=False):
        self.program = program
        self.notify = any(rule.get("action") == "SCMP_ACT_NOTIFY" for rule in profile.get("syscalls") or ())
        self.flags = _flags(profile.get("flags") or (), self.notify)
        self.listener_path = profile.get("listenerPath") if self.notify else None
        self.listener_metadata = profile.get("listenerMetadata") or ""
        self.skipped = list(skipped)  # syscall names this libseccomp does not know
        self.cached = cached

    def __repr__(self):
        return f"<seccomp Filter {len(self.program) // 8} insns flags={self.flags:#x} notify={self.notify}>"


def _flags(names, notify):
    flags = 0
    for name in names:
        flags |= FLAGS[name]
    if notify:
        flags |= FLAG_NEW_LISTENER
        if flags & FLAG_TSYNC:
            flags |= FLAG_TSYNC_ESRCH  # TSYNC alone would make seccomp(2) return a thread id, not the fd
    return flags
