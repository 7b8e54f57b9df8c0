"""Unpacking one layer tarball into its own directory, safely, as root.

Every path is resolved inside the layer directory by the kernel (openat2 with RESOLVE_IN_ROOT and
RESOLVE_NO_SYMLINKS), so `../`, absolute names, symlinked parents and links to the outside can
never reach the host, whatever tarfile's own checks miss. A layer is one overlayfs lower
directory: OCI whiteouts become overlayfs whiteouts (0:0 character devices) and opaque markers
become the trusted.overlay.opaque xattr.

In a user namespace (an ordinary user's engine, pybox.engine.rootless) owners are the namespace's
ids, shifted by the kernel into the user's subordinate range; an owner beyond the map is one
error line. As containers/storage does there: the opaque marker is user.overlay.opaque (the
overlay is mounted with userxattr), device nodes are skipped (mknod is the host root's), and
trusted.* xattrs too (the host root's).
"""

import errno
import os
import stat

from pybox import kernel
from pybox.errors import PyboxError
from pybox.userns import in_user_namespace

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CHUNK = 1 << 20
_RESOLVE = kernel.RESOLVE_IN_ROOT | kernel.RESOLVE_NO_SYMLINKS | kernel.RESOLVE_NO_MAGICLINKS
# A layer may carry these xattrs; trusted.overlay.* and user.overlay.* (overlayfs's markers in
# a user namespace) would let it forge whiteouts or redirects.
_XATTR_PREFIXES = ("user.", "security.capability", "trusted.")
_XATTR_FORGED = ("trusted.overlay.", "user.overlay.")
_XATTR_PAX = "SCHILY.xattr."


class LayerError(PyboxError):
    pass


def unpack(blob, dest, budget, name="layer"):
    """Unpack the (compressed) tar stream `blob` into the existing empty directory dest.

    Returns the diff id ("sha256:..." of the uncompressed tar). Stops with an error once the
    layer expands past its compression.Budget (a decompression bomb).
    """
    import tarfile
    from pybox.images.compression import open_counted
    stream = open_counted(blob, budget)
    rootfd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with tarfile.open(fileobj=stream, mode="r:", errorlevel=2) as tar:
            _Extractor(rootfd, tar, name, budget).run()
        stream.drain()
    except PyboxError:
        raise
    except (tarfile.TarError, EOFError, ValueError, UnicodeError) as err:
        raise LayerError(f"{name}: not a valid tar stream: {err or type(err).__name__}") from None
    except OSError as err:
        raise LayerError(f"{name}: {err.strerror or err}"
                         + (f": {err.filename}" if err.filename else "")) from None
    except Exception as err:  # zlib.error, zstandard.ZstdError: a corrupt or truncated layer
        raise LayerError(f"{name}: corrupt compressed data: {err}") from None
    finally:
        os.close(rootfd)
    return stream.digest()


class _Extractor:
    def __init__(self, rootfd, tar, name, budget):
        self.rootfd = rootfd
        self.budget = budget  # sparse members expand past the stream: their writes count too
        self.tar = tar
        self.name = name
        self.parent_key = None
        self.parent_fd = None
        self.dir_times = []
        self.userns = in_user_namespace()

    def run(self):
        try:
            for member in self.tar:
                self.entry(member)
            self.close_parent()
            self.restore_dir_times()
        finally:
            self.close_parent()

    def fail(self, member, reason):
        raise LayerError(f"{self.name}: entry {member.name!r}: {reason}")

    def entry(self, member):
        parts = self.split(member, member.name)
        if not parts:
            self.set_root_metadata(member)
            return
        parent = self.parent(member, parts[:-1])
        base = parts[-1]
        if base == OPAQUE:
            os.setxattr(self.proc_path(parent, ""),
                        "user.overlay.opaque" if self.userns else "trusted.overlay.opaque", b"y")
        elif base.startswith(WHITEOUT):
            self.whiteout(member, parent, base[len(WHITEOUT):])
        elif member.isdir():
            self.directory(member, parent, base, parts)
        elif member.islnk():
            self.hardlink(member, parent, base)
        else:
            self.remove_existing(parent, base)
            self.create(member, parent, base)

    def split(self, member, path):
        if path.startswith("/"):
            self.fail(member, "absolute path")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            self.fail(member, "path goes up with '..'")
        return parts

    def parent(self, member, parts):
        """An O_PATH fd of the parent directory, made if missing; one is kept for the next entry."""
        key = "/".join(parts)
        if key == self.parent_key:
            return self.parent_fd
        self.close_parent()
        self.parent_fd = self.resolve_dir(member, parts)
        self.parent_key = key
        return self.parent_fd

    def close_parent(self):
        if self.parent_fd is not None:
            os.close(self.parent_fd)
            self.parent_fd = self.parent_key = None

    def resolve_dir(self, member, parts):
        try:
            return self.openat2("/".join(parts) or ".", os.O_PATH | os.O_DIRECTORY)
        except OSError as err:
            if err.errno != errno.ENOENT:  # a parent the layer did not list is made below
                self.resolve_error(member, err)
        fd = os.dup(self.rootfd)
        try:
            for part in parts:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                try:
                    child = kernel.openat2(fd, part, os.O_PATH | os.O_DIRECTORY, resolve=_RESOLVE)
                except OSError as err:
                    self.resolve_error(member, err)
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def resolve_error(self, member, err):
        if err.errno in (errno.ELOOP, errno.EXDEV):
            self.fail(member, "its parent directory is a symlink")
        if err.errno == errno.ENOTDIR:
            self.fail(member, "its parent is not a directory")
        raise err

    def openat2(self, path, flags):
        return kernel.openat2(self.rootfd, path, flags, resolve=_RESOLVE)

    @staticmethod
    def proc_path(dirfd, base):
        # A path through the fd's magic link: the parent was resolved safely, and the last
        # component is never followed (callers use follow_symlinks=False or O_NOFOLLOW).
        return f"/proc/self/fd/{dirfd}/{base}" if base else f"/proc/self/fd/{dirfd}"

    def remove_existing(self, parent, base):
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            from pybox.images.files import remove_tree
            remove_tree(base, dir_fd=parent)
        else:
            os.unlink(base, dir_fd=parent)

    def whiteout(self, member, parent, base):
        if not base or base in (".", ".."):
            self.fail(member, "bad whiteout name")
        self.remove_existing(parent, base)
        os.mknod(base, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)

    def directory(self, member, parent, base, parts):
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(base, dir_fd=parent)
                os.mkdir(base, 0o700, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(base, 0o700, dir_fd=parent)
        fd = kernel.openat2(parent, base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                            resolve=_RESOLVE)
        try:
            self.set_metadata(fd, member)
        finally:
            os.close(fd)
        self.dir_times.append(("/".join(parts), member.mtime))

    def set_root_metadata(self, member):
        if member.isdir():
            self.set_metadata(self.rootfd, member)
            self.dir_times.append((".", member.mtime))

    def hardlink(self, member, parent, base):
        parts = self.split(member, member.linkname)
        if not parts:
            self.fail(member, "hardlink to the root directory")
        try:
            target = self.openat2("/".join(parts), os.O_PATH | os.O_NOFOLLOW)
        except OSError:
            self.fail(member, f"hardlink target {member.linkname!r} is not in this layer")
        try:
            self.remove_existing(parent, base)
            os.link(self.proc_path(target, ""), base, dst_dir_fd=parent, follow_symlinks=True)
        except (IsADirectoryError, PermissionError):  # linkat refuses directories with EPERM
            self.fail(member, "hardlink to a directory")
        finally:
            os.close(target)

    def create(self, member, parent, base):
        if member.isreg():
            self.regular(member, parent, base)
            return
        if member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
        elif (member.ischr() or member.isblk()) and self.userns:
            return  # mknod needs the host's root: containers/storage skips them too
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
        else:
            self.fail(member, f"unsupported entry type {member.type!r}")
        self.set_path_metadata(member, parent, base)

    def regular(self, member, parent, base):
        self.budget.will_write(member.size)
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent)
        try:
            source = self.tar.extractfile(member)
            remaining = member.size
            while remaining:
                data = source.read(min(CHUNK, remaining))
                if not data:
                    self.fail(member, "layer ends inside this file")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                remaining -= len(data)
                self.budget.wrote(len(data))
            self.set_metadata(fd, member)
        finally:
            os.close(fd)

    def set_metadata(self, fd, member):
        # chown before chmod: chown clears the setuid and setgid bits.
        self.chown(member, os.fchown, fd)
        os.fchmod(fd, member.mode & 0o7777)
        for key, value in self.xattrs(member):
            os.setxattr(fd, key, value)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.utime(fd, (member.mtime, member.mtime))

    def set_path_metadata(self, member, parent, base):
        """For entries that cannot be opened for writing: symlinks, devices, fifos."""
        self.chown(member, os.chown, base, dir_fd=parent, follow_symlinks=False)
        if not member.issym():
            os.chmod(base, member.mode & 0o7777, dir_fd=parent)
        for key, value in self.xattrs(member):
            os.setxattr(self.proc_path(parent, base), key, value, follow_symlinks=False)
        os.utime(base, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)

    def chown(self, member, call, *where, **flags):
        try:
            call(*where, member.uid, member.gid, **flags)
        except OSError as err:
            if err.errno != errno.EINVAL or not self.userns:
                raise
            self.fail(member, f"owner {member.uid}:{member.gid} is not mapped in this user "
                      "namespace (too few ids in /etc/subuid or /etc/subgid)")

    def xattrs(self, member):
        for key, value in member.pax_headers.items():
            if key.startswith(_XATTR_PAX):
                name = key[len(_XATTR_PAX):]
                if name.startswith(_XATTR_FORGED) or (self.userns and name.startswith("trusted.")):
                    continue
                if name.startswith(_XATTR_PREFIXES):
                    yield name, value.encode("utf-8", "surrogateescape")

    def restore_dir_times(self):
        # Creating entries changed the directories' mtimes; set them last, deepest first.
        for path, mtime in reversed(self.dir_times):
            try:
                fd = self.openat2(path, os.O_PATH | os.O_DIRECTORY)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # replaced by a later entry
                raise
            try:
                os.utime(self.proc_path(fd, ""), (mtime, mtime))
            finally:
                os.close(fd)
