"""Reading conmon's k8s-file log: `TIMESTAMP STREAM F|P MESSAGE` per line (P: no newline yet)."""

import os
import sys
import time

from pybox.errors import PyboxError


def show(root, box, follow=False, tail=None, timestamps=False):
    from pybox.engine.lifecycle import monitored
    try:
        log = open(box.path("ctr.log"), "rb")
    except FileNotFoundError:
        return  # a foreground container writes to its terminal, not a log
    with log:
        entries = [parse(line) for line in log.readlines()]
        _write([e for e in entries if e], tail, timestamps)
        while follow:
            line = log.readline()
            if line.endswith(b"\n"):
                _write([parse(line)], None, timestamps)
                continue
            if line:
                log.seek(-len(line), os.SEEK_CUR)  # conmon is mid-line: read it whole later
            if not monitored(root, box):
                _write([parse(rest) for rest in log.readlines()], None, timestamps)
                return
            time.sleep(0.05)


def parse(line):
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[:3]
    message = parts[3] if len(parts) > 3 else b""
    return stamp, stream, message + (b"\n" if tag == b"F" else b"")


def _write(entries, tail, timestamps):
    entries = [e for e in entries if e]
    if tail is not None:
        count = _tail_count(tail)
        if count is not None:
            entries = entries[-count:] if count else []
    for stamp, stream, message in entries:
        out = sys.stderr.buffer if stream == b"stderr" else sys.stdout.buffer
        out.write(stamp + b" " + message if timestamps else message)
        out.flush()


def _tail_count(text):
    if text == "all":
        return None
    if not text.isdigit():
        raise PyboxError(f"--tail {text!r}: expected a number or all")
    return int(text)
