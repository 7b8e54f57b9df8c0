"""On-disk cache of compiled programs, as crun keeps one.

The key hashes everything the bytes depend on: the profile, the libseccomp version (its code
generator), the kernel release (which syscalls and arches exist) and the pybox version (our
compiler and ENOSYS stub). A hit skips libseccomp's compile entirely: the bytes go to seccomp(2).
Files are written to a temporary name and renamed, so a reader never sees half a program.
"""

import os

DEFAULT_DIR = "/var/cache/pybox/seccomp"
FORMAT = "2"  # bump when the compiler's output for the same inputs changes
KEEP = 256  # programs kept; each is about 10 KiB, and a host rarely uses more than a few profiles


def cache_dir(configured=None):
    return configured or os.environ.get("PYBOX_SECCOMP_CACHE") or DEFAULT_DIR


def key(profile, libseccomp_version):
    from pybox.jsonio import canonical
    try:
        from _sha256 import sha256  # the C module alone: hashlib would also load OpenSSL
    except ImportError:
        from hashlib import sha256
    from pybox import __version__
    try:
        text = canonical([FORMAT, __version__, libseccomp_version, os.uname().release, profile])
    except (TypeError, ValueError, RecursionError):
        return None  # not JSON data: validation will say what is wrong with it
    return sha256(text.encode()).hexdigest()


def load(directory, digest):
    """The cached program, or None when it is missing, not a whole BPF program, or not trustworthy."""
    if not _private(directory):
        return None
    try:
        fd = os.open(os.path.join(directory, digest + ".bpf"), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not _private_stat(os.fstat(fd)):
            return None
        program = f.read()
    return program if program and len(program) % 8 == 0 else None


def _private(directory):
    """Only a cache that no other user can write may decide what a container's filter is."""
    try:
        return _private_stat(os.stat(directory))
    except OSError:
        return False


def _private_stat(st):
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def store(directory, digest, program):
    """Best effort: a read-only or full disk only costs the next start a compile."""
    path = os.path.join(directory, digest + ".bpf")
    from pybox.fsutil import write_atomic
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        write_atomic(path, program)
        _prune(directory)
        return True
    except OSError:
        return False


def _prune(directory):
    """Drop the least recently written programs beyond KEEP (only on a miss, which already compiled)."""
    entries = []
    with os.scandir(directory) as it:
        for entry in it:
            if entry.name.endswith(".bpf"):
                entries.append((entry.stat().st_mtime_ns, entry.path))
    for _, path in sorted(entries)[:-KEEP]:
        try:
            os.unlink(path)
        except OSError:
            pass
