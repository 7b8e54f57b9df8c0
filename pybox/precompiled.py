"""The compiled code of every pybox module in one file, so a command's imports skip the files.

A plain import of a module costs about 50 us of finding it before any of its code runs (a
directory cache lookup, stat of the source, open and read of the .pyc, checks); a `run` imports
about 35 pybox modules. `python -m pybox.precompiled` (run by scripts/install.sh) writes
pybox/precompiled.bin next to the installed package; the launcher calls install(), which puts a
finder first on sys.meta_path that serves pybox's modules from it.

Each entry keeps its source's mtime and size: a module whose file has changed since the build is
loaded the usual way, so a stale file costs speed, never correctness. Modules keep their real
__file__, and their loader is a SourceFileLoader in every other respect.
"""

import marshal
import os
import sys

FILE = "precompiled.bin"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_external = sys.modules["_frozen_importlib_external"]  # importlib's own, already loaded


class _Loader(_external.SourceFileLoader):
    index = {}
    fd = -1
    file_id = None  # (st_dev, st_ino): a process that closes its fds may reuse the number
    base = 0

    def get_code(self, fullname):
        entry = self.index.get(fullname)
        if entry is not None:
            _, _, mtime_ns, size, offset, length = entry
            try:
                st, own = os.stat(self.path), os.fstat(self.fd)
                if (st.st_mtime_ns, st.st_size) == (mtime_ns, size) \
                        and (own.st_dev, own.st_ino) == self.file_id:
                    return marshal.loads(os.pread(self.fd, length, self.base + offset))
            except OSError:
                pass
        return super().get_code(fullname)


class _Finder:
    def __init__(self, index, top):
        self.index = index
        self.top = top

    def find_spec(self, fullname, path=None, target=None):
        entry = self.index.get(fullname)
        if entry is None:
            return None
        is_package, relpath = entry[0], entry[1]
        origin = os.path.join(self.top, relpath)
        search = [os.path.dirname(origin)] if is_package else None
        return _external.spec_from_file_location(fullname, origin, loader=_Loader(fullname, origin),
                                                 submodule_search_locations=search)


def install(package_dir=_PACKAGE_DIR):
    """Serve pybox's modules from precompiled.bin, if it is there. The file stays open: code is
    read with one pread per module."""
    try:
        fd = os.open(os.path.join(package_dir, FILE), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        size = int.from_bytes(os.pread(fd, 8, 0), "little")
        index = marshal.loads(os.pread(fd, size, 8))
        st = os.fstat(fd)
    except (OSError, ValueError, EOFError, TypeError):
        os.close(fd)
        return False
    _Loader.index, _Loader.fd, _Loader.base = index, fd, 8 + size
    _Loader.file_id = (st.st_dev, st.st_ino)
    sys.meta_path.insert(0, _Finder(index, os.path.dirname(package_dir)))
    return True


def build(package_dir=_PACKAGE_DIR):
    """(index, blobs): index maps a module to (is_package, path from site-packages, mtime_ns,
    size, offset, length) of its marshalled code in the concatenated blobs."""
    index, blobs, offset = {}, [], 0
    top = os.path.dirname(package_dir)
    for directory, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(n for n in names if n.endswith(".py")):
            path = os.path.join(directory, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                blob = marshal.dumps(compile(f.read(), path, "exec", dont_inherit=True))
            index[_module_name(os.path.relpath(path, top))] = (
                name == "__init__.py", os.path.relpath(path, top), st.st_mtime_ns, st.st_size,
                offset, len(blob))
            blobs.append(blob)
            offset += len(blob)
    return index, blobs


def _module_name(relpath):
    parts = relpath[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def write(package_dir=_PACKAGE_DIR):
    index, blobs = build(package_dir)
    head = marshal.dumps(index)
    target = os.path.join(package_dir, FILE)
    from pybox.fsutil import write_atomic
    write_atomic(target, len(head).to_bytes(8, "little") + head + b"".join(blobs), 0o644)
    return target


if __name__ == "__main__":
    print(write())
