"""A foreground container's output goes to our terminal and, as conmon writes it, to ctr.log."""

import os
import select
import time


class Relay:
    """Pipes standing in for the container's stdout and stderr while it is created."""

    STREAMS = {1: b"stdout", 2: b"stderr"}

    def __init__(self, log_path):
        self.log_path = log_path
        self.pipes = {}

    def install(self):
        """Point fds 1 and 2 at new pipes (the init inherits them); returns the saved fds."""
        saved = {}
        for fd in self.STREAMS:
            read_end, write_end = os.pipe()
            saved[fd] = os.dup(fd)
            os.dup2(write_end, fd)
            os.close(write_end)
            self.pipes[read_end] = fd
        return saved

    @staticmethod
    def restore(saved):
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)

    def run(self):
        """Copy until every process of the container has closed its end."""
        with open(self.log_path, "ab") as log:
            while self.pipes:
                ready, _, _ = select.select(list(self.pipes), [], [])
                for read_end in ready:
                    self._copy(read_end, log)

    def _copy(self, read_end, log):
        fd = self.pipes[read_end]
        data = os.read(read_end, 65536)
        if not data:
            os.close(read_end)
            del self.pipes[read_end]
            return
        os.write(fd, data)
        log.write(k8s_lines(self.STREAMS[fd], data))
        log.flush()


def k8s_lines(stream, data):
    """conmon's k8s-file format: TIMESTAMP STREAM F|P TEXT per line; P when no newline ends it."""
    t = time.time()
    stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}+00:00").encode()
    out = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line:
            break
        out.append(b"%s %s %s %s\n" % (stamp, stream, b"P" if last else b"F", line))
    return b"".join(out)
