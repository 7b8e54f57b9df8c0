"""docker's exit statuses for `run`, `exec` and `start` when no container process gave one.

125: pybox itself failed (a bad flag, a missing image or container, a bad configuration, a full
store). 126: the command was found but cannot be invoked (not executable, a directory,
permission denied). 127: the command was not found. docker's CLI and podman tell these apart by
the OCI runtime's message; pybox's runtime words them as runc does (runtime/init/process.py
find_executable), so the same test works for pybox-runc and for runc.
"""

from pybox.errors import PyboxError

NOT_FOUND = 127
CANNOT_INVOKE = 126
ENGINE = 125


def status_for(err):
    """The exit status for an error that stopped the command before the container's process ran."""
    if isinstance(err, CannotInvoke):
        return CANNOT_INVOKE
    text = str(err)
    if "': executable file not found in $PATH" in text or ("exec '" in text and
                                                           text.endswith("': no such file or directory")):
        return NOT_FOUND
    if "exec '" in text and text.endswith("': permission denied"):
        return CANNOT_INVOKE
    return ENGINE


def message(err):
    if isinstance(err, OSError):
        return f"{err.filename or ''}: {err.strerror or err}".lstrip(": ")
    return str(err)


def report(g, command, err):
    """One line on stderr, naming the command; returns docker's status for err."""
    from pybox import log
    log.error(g, f"{command}: {message(err)}")
    return status_for(err)


class CannotInvoke(PyboxError):
    """The process cannot be started as asked (exec -u names no user): docker's 126."""
