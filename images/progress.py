"""Per-layer progress of a pull: a line per layer on a terminal, nothing otherwise."""

import threading


class Progress:
    """Callbacks the puller makes; this one draws, the base class is silent."""

    def start(self, digest, total):
        pass

    def advance(self, digest, done):
        pass

    def finish(self, digest, status):
        pass

    @staticmethod
    def for_stream(stream):
        return Terminal(stream) if stream.isatty() else Progress()


class Terminal(Progress):
    def __init__(self, stream):
        self.stream = stream
        self.rows = {}
        self.lock = threading.Lock()

    def start(self, digest, total):
        with self.lock:
            self.rows[digest] = [0, total, "Downloading"]
            self.stream.write("\n")
            self._draw(digest)

    def advance(self, digest, done):
        with self.lock:
            row = self.rows.get(digest)
            if row is not None:
                row[0] = done
                self._draw(digest)

    def finish(self, digest, status):
        with self.lock:
            if digest not in self.rows:
                self.rows[digest] = [0, 0, status]
                self.stream.write("\n")
            self.rows[digest][2] = status
            self._draw(digest)

    def _draw(self, digest):
        done, total, status = self.rows[digest]
        up = len(self.rows) - list(self.rows).index(digest)
        text = f"{digest[7:19]}: {status}"
        if status == "Downloading" and total:
            width = 30
            filled = width * done // total
            text += f" [{'=' * filled}{' ' * (width - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        self.stream.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.stream.flush()
