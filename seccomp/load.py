"""Loading a compiled filter in the container init, and handing its NOTIFY fd to the listener.

Runs in the init right before execve, so it imports nothing heavy and never libseccomp.
"""

import sys

from pybox.errors import PyboxError, from_oserror

SECCOMP_SET_MODE_FILTER = 1


def install(filt):
    """Load filt into this process; the listener fd when the filter has NOTIFY rules, else None."""
    from pybox import kernel
    try:
        result = kernel.seccomp(SECCOMP_SET_MODE_FILTER, filt.flags, filt.program)
    except OSError as err:
        raise from_oserror(err, "load seccomp filter") from None
    return result if filt.notify else None


def send_listener(filt, fd, state):
    """Send the container process state and the notify fd to filt.listener_path (runtime-spec)."""
    import json
    import socket
    from pybox import OCI_VERSION
    message = {"ociVersion": state.get("ociVersion") or OCI_VERSION, "fds": ["seccompFd"],
               "pid": state.get("pid"), "metadata": filt.listener_metadata, "state": state}
    payload = json.dumps(message).encode()
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder, signed=True))]
    path = filt.listener_path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendmsg([payload], rights)
    except OSError as err:
        raise PyboxError(f"seccomp listener {path}: {err.strerror or err}", err.errno) from None
