"""The engine's events log: one JSON line per container event, appended as it happens.

There is no daemon to ask, so the commands that make things happen append to events.log in the
image store (O_APPEND: lines of concurrent writers do not interleave) and `pybox events` reads
it. Actions, as docker names them: create, start, die (with the exit code), destroy.

The log does not grow without bound: a writer that finds it at its size limit (1 MiB, or
PYBOX_EVENTS_LOG_MAX bytes) renames it to events.log.1 (one old file is kept) under a lock on
it, and readers go on from the rotated file to the new one.
"""

import os
import time

LOG = "events.log"
OLD = ".1"  # the rotated file: events.log.1
MAX_ENV = "PYBOX_EVENTS_LOG_MAX"
DEFAULT_MAX = 1 << 20


def max_bytes():
    """The size at which the log is rotated; a value that is not a positive number is ignored."""
    text = os.environ.get(MAX_ENV, "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX


def record(store, box, action, **attributes):
    """Append one event; an events log that cannot be written never fails the command."""
    from pybox import jsonio
    now = time.time_ns()
    event = {"Type": "container", "Action": action, "ID": box.id, "Name": box.name,
             "Image": box.data.get("image", ""), "time": now // 10**9, "timeNano": now}
    attributes = {**(box.data.get("labels") or {}), **attributes}  # docker's: labels too
    if attributes:
        event["Attributes"] = attributes
    line = (jsonio.dumps(event) + "\n").encode()
    path = store.path(LOG)
    for _ in range(3):  # again when two rotations came between our open and our write
        try:
            _append(path, line)
            return
        except _Deleted:
            continue
        except OSError:
            return


class _Deleted(Exception):
    """The file a line went to was rotated away twice meanwhile: nobody will read it."""


def _append(path, line):
    fd = _open_for_append(path)
    try:
        if os.fstat(fd).st_size >= max_bytes():
            _rotate(path, fd)
            fd, full = _open_for_append(path), fd
            os.close(full)
        os.write(fd, line)
        if os.fstat(fd).st_nlink == 0:
            raise _Deleted()
    finally:
        os.close(fd)


def _open_for_append(path):
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _rotate(path, fd):
    """Rename the full log to events.log.1, once: writers that found it full take its lock in
    turn, and only the first still finds it under the log's name."""
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        mine = os.fstat(fd)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            return
        if (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            os.rename(path, path + OLD)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class Reader:
    """The events in the log, in order: first what the rotated file holds, then the log; read()
    again gives what was appended since, across rotations. The file read last before a
    rotation stays open (as `prev`) until the next one, so that lines its writers append after
    the rename are read too; a file made and rotated between two reads is read from the rotated
    name. (A reader that sleeps through two rotations misses the file between: one is kept.)"""

    def __init__(self, store):
        self.path = store.path(LOG)
        self.fd = self.prev = None
        self.offset = self.prev_offset = 0

    def read(self):
        events = []
        if self.prev is not None:
            more, self.prev_offset = _lines(self.prev, self.prev_offset)
            events += more
        if self.fd is None:
            events += self._open()
        while self.fd is not None:
            more, self.offset = _lines(self.fd, self.offset)
            events += more
            if not self._replaced():
                break
            more, self.offset = _lines(self.fd, self.offset)  # appended before the rename
            events += more
            self._close(self.prev)
            self.prev, self.prev_offset, self.fd = self.fd, self.offset, None
            events += self._open()
        return events

    def close(self):
        self._close(self.fd)
        self._close(self.prev)
        self.fd = self.prev = None

    @staticmethod
    def _close(fd):
        if fd is not None:
            os.close(fd)

    def _open(self):
        """Open the log (if there is one), first reading the rotated file if it is new to us."""
        self.offset = 0
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.fd = None
        try:
            rotated = os.open(self.path + OLD, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            if any(fd is not None and _same_file(rotated, fd) for fd in (self.fd, self.prev)):
                return []  # the one we read, or the one just opened (rotated meanwhile)
            if self.fd is None:  # read it as the file being followed: it may still grow
                self.fd, rotated = rotated, None
                return []
            return _lines(rotated, 0)[0]
        finally:
            self._close(rotated)

    def _replaced(self):
        """True when the log's name now names another file (or none): ours was rotated."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return True
        mine = os.fstat(self.fd)
        return (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino)


def _same_file(a, b):
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _lines(fd, offset):
    """(events in whole lines from offset on, the offset after them); a damaged line is skipped."""
    from pybox import jsonio
    chunks = []
    while True:
        data = os.pread(fd, 1 << 16, offset + sum(map(len, chunks)))
        if not data:
            break
        chunks.append(data)
    data = b"".join(chunks)
    whole = data[:data.rfind(b"\n") + 1]  # a line still being written waits for the next read
    events = []
    for line in whole.split(b"\n"):
        try:
            events.append(jsonio.loads(line))
        except ValueError:
            continue
    return events, offset + len(whole)
