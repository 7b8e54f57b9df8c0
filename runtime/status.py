"""Container statuses and the one table of which operation each allows.

The status is worked out from facts (a live init with the recorded start time, the exec fifo, a
frozen cgroup), never trusted from the state file alone.
"""

from pybox.errors import PyboxError

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

ALLOWED = {
    "start": {CREATED},
    "kill": {CREATED, RUNNING, PAUSED},
    "pause": {RUNNING},
    "resume": {PAUSED},
    "exec": {CREATED, RUNNING},
    # A created container that never started may be deleted without --force: runc kills its
    # init and removes it (containerd's shim relies on this after a failed start).
    "delete": {STOPPED, CREATED},
    "update": {CREATED, RUNNING, PAUSED},
}

_REFUSALS = {
    "kill": "container not running",
    "delete": "cannot delete container {id} that is not stopped: {status}",
    "start": "cannot start a container that has {verb}",
    "exec": "cannot exec in a {status} container",
    "pause": "container not running",
    "resume": "container not paused",
}


def require(operation, status, container_id):
    """Raise the error runc gives when `operation` is not allowed in `status`."""
    if status in ALLOWED[operation]:
        return
    verb = {STOPPED: "stopped", RUNNING: "already started", PAUSED: "already started"}.get(status, status)
    template = _REFUSALS.get(operation, "cannot {operation} a {status} container")
    raise PyboxError(template.format(id=container_id, status=status, verb=verb, operation=operation))
