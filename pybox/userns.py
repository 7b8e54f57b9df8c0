"""Who is rootless: an ordinary user, or the root of a user namespace that user made.

`pybox` run by an ordinary user joins its user namespace (pybox.engine.rootless) and is then uid 0
there; ROOTLESS_ENV, which it sets for itself and what it starts (conmon, pybox-runc, the exit
command), keeps the caller's host uid, so paths stay the user's (podman's _CONTAINERS_ROOTLESS_UID).
"""

import os

ROOTLESS_ENV = "_PYBOX_ROOTLESS_UID"


def rootless_uid():
    """The caller's host uid when it is not the host's root, else None."""
    euid = os.geteuid()
    if euid != 0:
        return euid
    value = os.environ.get(ROOTLESS_ENV, "")
    return int(value) if value.isdigit() and value != "0" else None


_in_userns = None


def in_user_namespace():
    """True in any user namespace but the host's (runc's userns.RunningInUserNS)."""
    global _in_userns
    if _in_userns is None:
        try:
            with open("/proc/self/uid_map") as f:
                _in_userns = f.read().split() != ["0", "0", "4294967295"]
        except FileNotFoundError:
            _in_userns = False
    return _in_userns


def user_runtime_dir():
    """$XDG_RUNTIME_DIR, else /run/user/UID (podman's fallback)."""
    return os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{rootless_uid() or os.geteuid()}"


def user_data_dir():
    """$XDG_DATA_HOME, else ~/.local/share."""
    data = os.environ.get("XDG_DATA_HOME")
    if data:
        return data
    home = os.environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".local", "share")
