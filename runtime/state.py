"""The state store: one directory per container under --root.

<root>/<id>/             flock'd by every command that changes the container
<root>/<id>/state.json   the record, replaced atomically (temporary file, rename)
<root>/<id>/config.json  the bundle's config as it was at create (hooks for delete, exec defaults)
<root>/<id>/exec.fifo    exists from create until start: the init blocks opening it for writing
"""

import fcntl
import os
import time

from pybox import jsonio
from pybox.fsutil import write_atomic
from pybox.errors import PyboxError
from pybox.runtime import status as st

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(container_id):
    if (not container_id or len(container_id) > 1024 or container_id in (".", "..")
            or not _ID_CHARS.issuperset(container_id)):
        raise PyboxError(f"invalid container id {container_id!r}: use letters, digits and _+-.")
    return container_id


def pid_start_time(pid):
    """The start time of pid in clock ticks since boot, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":
        return None  # a zombie has exited: the container is stopped
    return int(fields[19])


def now_rfc3339():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


class Record:
    """One container's state directory and record."""

    def __init__(self, root, container_id):
        self.id = validate_id(container_id)
        self.dir = os.path.join(root, container_id)
        self.data = {}
        self._lock_fd = None
        self._config = None

    # --- paths -----------------------------------------------------------------------------
    @property
    def fifo(self):
        return os.path.join(self.dir, "exec.fifo")

    def path(self, name):
        return os.path.join(self.dir, name)

    # --- locking ---------------------------------------------------------------------------
    def lock(self):
        # The directory itself: a lock file would be one more file to create on every create.
        self._lock_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- reading and writing ---------------------------------------------------------------
    def exists(self):
        return os.path.isfile(self.path("state.json"))

    def load(self):
        try:
            self.data = jsonio.load_file(self.path("state.json"))
        except FileNotFoundError:
            raise PyboxError("container does not exist") from None
        except ValueError:
            raise PyboxError(f"container {self.id}: state file is damaged; delete --force removes it") from None
        return self

    def save(self):
        write_atomic(self.path("state.json"), jsonio.dumps(self.data))

    def config(self):
        """The config saved at create (it never changes afterwards, so it is read once)."""
        if self._config is None:
            from pybox.runtime.view import Config
            try:
                self._config = Config.checked_before(jsonio.load_file(self.path("config.json")))
            except (FileNotFoundError, ValueError):
                return Config()
        return self._config

    def save_config(self, config):
        write_atomic(self.path("config.json"), jsonio.dumps(config))
        self._config = config

    # --- status, worked out from facts --------------------------------------------------------
    def init_alive(self):
        pid = self.data.get("pid")
        return bool(pid) and pid_start_time(pid) == self.data.get("pid_start")

    def status(self):
        if not self.init_alive():
            return st.STOPPED if self.data.get("pid") else st.CREATING if self.data else st.STOPPED
        if os.path.exists(self.fifo):
            return st.CREATED
        if self.data.get("cgroup") and _frozen(self.data["cgroup"]):
            return st.PAUSED
        return st.RUNNING

    def oci_state(self, status=None):
        """The runtime-spec state object, as `state` prints it and hooks read it."""
        status = status or self.status()
        return {
            "ociVersion": self.data.get("ociVersion", "1.2.0"),
            "id": self.id,
            "pid": self.data.get("pid", 0) if status != st.STOPPED else 0,
            "status": status,
            "bundle": self.data.get("bundle", ""),
            "rootfs": self.data.get("rootfs", ""),
            "created": self.data.get("created", ""),
            "annotations": self.data.get("annotations") or {},
            "owner": self.data.get("owner", ""),
        }


def _frozen(cgroup_record):
    from pybox.cgroups import load_manager
    try:
        return load_manager(cgroup_record).frozen()
    except (OSError, PyboxError):
        return False


def open_existing(root, container_id):
    """The Record of an existing container (loaded), or PyboxError "container does not exist"."""
    record = Record(root, container_id)
    if not os.path.isdir(record.dir):
        raise PyboxError("container does not exist")
    return record.load()


def all_ids(root):
    try:
        return sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    except FileNotFoundError:
        return []
