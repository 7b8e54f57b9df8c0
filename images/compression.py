"""Reading layer blobs: gzip, zstd or plain tar, told apart by their first bytes."""

import io
import os

from pybox.errors import PyboxError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20


def open_decompressed(raw):
    """A readable stream of the uncompressed bytes of the binary file object raw."""
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw, CHUNK)
    head = raw.peek(4)[:4]
    if head.startswith(GZIP_MAGIC):
        try:  # ISA-L inflates about twice as fast as zlib; gzip is the fallback
            from isal.igzip import IGzipFile as GzipFile
        except ImportError:
            from gzip import GzipFile
        return GzipFile(fileobj=raw, mode="rb")
    if head.startswith(ZSTD_MAGIC):
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def compression_of(path):
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


class Budget:
    """How many bytes a layer (or an archive) may expand to: the absolute limit (and the free
    space), and at most `max_ratio` uncompressed bytes per compressed byte once past
    `ratio_floor`. Counts the uncompressed stream and the apparent sizes of the files written
    (a sparse tar member expands with no stream behind it)."""

    def __init__(self, limits, name, free=None):
        self.name = name
        self.absolute = min(limits.max_layer_size, free) if free is not None \
            else limits.max_layer_size
        self.ratio = limits.max_ratio
        self.floor = limits.ratio_floor
        self.compressed = 0  # bytes read from the blob
        self.stream = 0      # uncompressed bytes read
        self.written = 0     # apparent size of the files written

    def raw(self, raw):
        """raw, counted as the compressed side."""
        return _Counted(raw, self)

    def will_write(self, size):
        """Refuse a file early when its size alone is past the absolute limit."""
        if self.written + size > self.absolute:
            self.fail(self.written + size)

    def wrote(self, size):
        self.written += size
        self.check()

    def check(self):
        used = max(self.stream, self.written)
        if used > self.absolute:
            self.fail(used)
        if used > self.floor and used > self.ratio * self.compressed:
            raise PyboxError(f"{self.name}: expands more than {self.ratio} times "
                             f"({used} bytes from {self.compressed}; a decompression bomb?)")

    def fail(self, used):
        raise PyboxError(f"{self.name}: more than {self.absolute} bytes once uncompressed "
                         f"({used}; a decompression bomb?)")


class _Counted(io.RawIOBase):
    def __init__(self, raw, budget):
        super().__init__()
        self.raw = raw
        self.budget = budget

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        self.budget.compressed += len(data)
        return len(data)


class Uncompressed:
    """Counts and hashes what tarfile reads, and stops a decompression bomb (see Budget)."""

    def __init__(self, stream, budget):
        import hashlib
        self.stream = stream
        self.budget = budget
        self.hash = hashlib.sha256()

    @property
    def count(self):
        return self.budget.stream

    def read(self, size=-1):
        data = self.stream.read(size)
        self.budget.stream += len(data)
        self.budget.check()
        self.hash.update(data)
        return data

    # tarfile's random-access mode reads members in order, so it only ever seeks forward; letting
    # it seek (by reading ahead) avoids the extra copying of its stream mode.
    def tell(self):
        return self.count

    def seek(self, offset, whence=0):
        if whence != 0 or offset < self.count:
            raise OSError("a layer stream cannot seek backwards")
        while self.count < offset:
            if not self.read(min(CHUNK, offset - self.count)):
                break
        return self.count

    def drain(self):
        """Read the padding after the tar end so the digest covers the whole stream."""
        while self.read(1 << 20):
            pass

    def digest(self):
        return "sha256:" + self.hash.hexdigest()


def open_counted(raw, budget):
    """The uncompressed stream of raw, counted against the budget on both sides."""
    return Uncompressed(open_decompressed(budget.raw(raw)), budget)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
