"""Log lines for --log and --log-format, as runc writes them.

The containerd shim reads the last {"level":"error","msg":...} line of the --log file to tell
its caller why a command failed, so errors go there as well as to stderr.
"""

import os
import sys
import time

from pybox.errors import PyboxError


def _timestamp():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _quote(text):
    from json import dumps
    return dumps(text)


_globals = None  # the command's global options, for code that is not handed them


def configure(g):
    global _globals
    _globals = g


def check_writable(g):
    """--log names a file we must be able to append to: say so now, as runc does, rather than
    drop every line later (the error goes to stderr only, with --log cleared)."""
    if not g.log:
        return
    try:
        os.close(os.open(g.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError as err:
        path, g.log = g.log, None
        raise PyboxError(f"--log {path}: {err.strerror}") from None


def write(g, level, message):
    g = g or _globals
    if g is None or not g.log:
        return
    if g.log_format == "json":
        line = f'{{"level":"{level}","msg":{_quote(message)},"time":"{_timestamp()}"}}\n'
    else:
        line = f"time=\"{_timestamp()}\" level={level} msg={_quote(message)}\n"
    try:
        fd = os.open(g.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # a log we cannot write must not hide the error itself


def error(g, message):
    print(f"pybox: {message}", file=sys.stderr)
    write(g, "error", message)


def warning(g, message):
    print(f"pybox: warning: {message}", file=sys.stderr)
    write(g, "warning", message)


def debug(g, message):
    g = g or _globals
    if g is not None and g.debug:
        if g.log:  # as runc: the log file when there is one, else stderr
            write(g, "debug", message)
        else:
            print(f"pybox: debug: {message}", file=sys.stderr)
