"""Reading layer blobs: gzip, zstd or plain tar, told apart by their first bytes."""

import os

from pybox.errors import PyboxError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20


def open_decompressed(raw):
    """A readable stream of the uncompressed bytes of the binary file object raw."""
    if not hasattr(raw, "peek"):
        import io
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


class Uncompressed:
    """Counts and hashes what tarfile reads, and stops a decompression bomb at `limit` bytes."""

    def __init__(self, stream, limit, name):
        import hashlib
        self.stream = stream
        self.limit = limit
        self.name = name
        self.count = 0
        self.hash = hashlib.sha256()

    def read(self, size=-1):
        data = self.stream.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise PyboxError(f"{self.name}: more than {self.limit} bytes once uncompressed "
                             "(a decompression bomb?)")
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


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
