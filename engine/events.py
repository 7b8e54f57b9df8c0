"""The engine's events log: one JSON line per container event, appended as it happens.

There is no daemon to ask, so the commands that make things happen append to events.log in the
image store (O_APPEND: lines of concurrent writers do not interleave) and `pybox events` reads
it. Actions, as docker names them: create, start, die (with the exit code), destroy.
"""

import os
import time

LOG = "events.log"


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
    try:
        fd = os.open(store.path(LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line)
    except OSError:
        pass
    finally:
        os.close(fd)


def read(store, offset=0):
    """(events in whole lines from offset on, the offset after them); a damaged line is skipped."""
    from pybox import jsonio
    try:
        with open(store.path(LOG), "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    whole = data[:data.rfind(b"\n") + 1]  # a line still being written waits for the next read
    events = []
    for line in whole.split(b"\n"):
        try:
            events.append(jsonio.loads(line))
        except ValueError:
            continue
    return events, offset + len(whole)
