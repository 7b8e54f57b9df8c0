"""`pybox import`: docker-save archives, OCI archives and layouts, and plain rootfs tarballs or dirs.

Archives are read member by member through tarfile (never extracted), and only the files an
image format names are read: blobs go into the store verified against their digests.
"""

import errno
import json
import os
import stat
import sys
from contextlib import contextmanager

from pybox import kernel
from pybox.errors import PyboxError
from pybox.images import manifests

_COPY = 1 << 20


def import_image(store, source, name=None):
    """Import from a path (file or directory) or "-" (standard input); returns the Image."""
    names = [_normal_name(name)] if name else []
    before, layers_before = set(store.new_blobs), set(store.new_layers)
    try:
        with store.pulling():  # gc must not take the blobs written before the image is recorded
            with _step(f"import {source}"):
                return _import_any(store, source, names)
    except BaseException:
        store.forget(store.new_blobs - before, store.new_layers - layers_before)
        raise


@contextmanager
def _step(what):
    """Whatever fails in this step, bad data mostly (tarfile, zlib, zstd, EOFError), is one line
    naming the step."""
    try:
        yield
    except PyboxError:
        raise
    except Exception as err:
        raise PyboxError(f"{what}: {_reason(err)}") from None


def _reason(err):
    if isinstance(err, OSError) and err.strerror:
        return err.strerror + (f": {err.filename}" if err.filename else "")
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _import_any(store, source, names):
    what = f"import {source}"
    if source == "-":
        return _import_stdin(store, names)
    if os.path.isdir(source):
        return _import_dir(store, source, names, what)
    if not os.path.isfile(source):
        raise PyboxError(f"{what}: no such file or directory")
    return _import_file(store, source, names, what)


def _normal_name(name):
    from pybox.images.reference import parse
    ref = parse(name)
    if ref.digest:
        raise PyboxError(f"import name {name!r}: a name cannot carry a digest")
    return str(ref)


def _import_stdin(store, names):
    with store.tempdir("stdin-") as tmpdir:
        tmp = os.path.join(tmpdir, "input")
        with open(tmp, "wb") as out:
            while chunk := sys.stdin.buffer.read(_COPY):
                out.write(chunk)
        return _import_file(store, tmp, names, "import -")


def _import_dir(store, path, names, what):
    source = DirSource(path, what)
    if source.exists("oci-layout"):
        return import_oci(store, source, names, what)
    if source.exists("manifest.json"):
        return import_docker(store, source, names, what)
    return import_rootfs_dir(store, path, names, what)


def _import_file(store, path, names, what):
    import tarfile
    from pybox.images.compression import compression_of
    if compression_of(path) is not None:
        if _compressed_archive(store, path, what):
            return _import_decompressed(store, path, names, what)
        return import_rootfs_tarball(store, path, names, what=what)
    try:
        source = TarSource(path, what)
    except tarfile.TarError:
        raise PyboxError(f"{what}: not a tar archive") from None
    with source:
        if source.exists("oci-layout"):
            return import_oci(store, source, names, what)
        if source.exists("manifest.json"):
            return import_docker(store, source, names, what)
    return import_rootfs_tarball(store, path, names, what=what)


_ARCHIVE_FILES = {"oci-layout", "index.json", "manifest.json", "repositories", "blobs", "json",
                  "VERSION", "layer.tar"}


def _compressed_archive(store, path, what):
    """Is this `docker save | gzip` (or an OCI archive) rather than a root filesystem?

    Reads names only until one could not be in an image archive, so a rootfs is told early.
    """
    import tarfile
    from pybox.images.compression import open_counted
    step = f"{what}: decompressing"
    with _step(step), open(path, "rb") as raw:
        stream = open_counted(raw, store.budget(step))
        try:
            tar = tarfile.open(fileobj=stream, mode="r|")
        except tarfile.ReadError:
            raise PyboxError(f"{step}: not a tar archive inside") from None
        with tar:
            seen = False
            for member in tar:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if parts and not all(p in _ARCHIVE_FILES or _hexish(p) for p in parts):
                    return False
                seen = seen or parts[-1:] in (["oci-layout"], ["manifest.json"])
            return seen


def _hexish(name):
    stem = name.removesuffix(".json").removesuffix(".tar")
    return len(stem) >= 32 and all(c in "0123456789abcdef" for c in stem) or stem == "sha256"


def _import_decompressed(store, path, names, what):
    from pybox.images.compression import open_counted
    step = f"{what}: decompressing"
    with store.tempdir("archive-") as tmpdir:
        tmp = os.path.join(tmpdir, "archive.tar")
        with _step(step), open(path, "rb") as raw, open(tmp, "wb") as out:
            stream = open_counted(raw, store.budget(step))
            while chunk := stream.read(_COPY):
                out.write(chunk)
        return _import_file(store, tmp, names, what)


_BENEATH = kernel.RESOLVE_BENEATH | kernel.RESOLVE_NO_MAGICLINKS


class DirSource:
    """Regular files of an image layout directory, by their relative names; a name (or a
    symlink on its way) that leads out of the directory is refused by the kernel (openat2
    RESOLVE_BENEATH), and so is anything but a regular file (a fifo would hang the import)."""

    def __init__(self, path, what):
        self.root = path
        self.what = what

    def exists(self, name):
        """False if there is no such file; a symlink out of the layout is still an error."""
        try:
            self.open(name).close()
        except PyboxError as err:
            if err.errno == errno.ENOENT:
                return False
            raise
        return True

    def open(self, name):
        name = os.path.normpath(name)
        if name.startswith(("/", "..")):
            raise PyboxError(f"{self.what}: {name!r} points outside the layout")
        root = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = kernel.openat2(root, name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY,
                                resolve=_BENEATH)
        except OSError as err:
            if err.errno in (errno.EXDEV, errno.ELOOP):
                raise PyboxError(f"{self.what}: {name} leads outside the layout "
                                 "(a symlink out of it?)") from None
            raise PyboxError(f"{self.what}: cannot read {name}: {err.strerror}", err.errno) \
                from None
        finally:
            os.close(root)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise PyboxError(f"{self.what}: {name} is not a regular file")
        return os.fdopen(fd, "rb")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class TarSource(DirSource):
    """Files of an image archive (uncompressed tar), read in place."""

    def __init__(self, path, what):
        import tarfile
        self.root = path
        self.what = what
        self.tar = tarfile.open(path, "r:")
        try:
            self.members = {os.path.normpath(m.name): m for m in self.tar.getmembers() if m.isreg()}
        except BaseException:
            self.tar.close()
            raise

    def exists(self, name):
        return os.path.normpath(name) in self.members

    def open(self, name):
        member = self.members.get(os.path.normpath(name))
        if member is None:
            raise PyboxError(f"{self.what}: the archive has no file {name}")
        return self.tar.extractfile(member)

    def __exit__(self, *exc):
        self.tar.close()


def read_json(source, name):
    with source.open(name) as f, _step(f"{source.what}: reading {name}"):
        try:
            return json.load(f)
        except ValueError as err:
            raise PyboxError(f"{source.what}: {name} is not valid JSON: {err}") from None


def copy_blob(store, source, name, digest=None):
    """Copy a file of the source into the store; verified if digest is given. Returns the digest."""
    import hashlib
    with store.tempdir("import-") as tmpdir:
        tmp = os.path.join(tmpdir, "blob")
        h = hashlib.sha256()
        with source.open(name) as src, open(tmp, "wb") as out, \
                _step(f"{source.what}: reading {name}"):
            while chunk := src.read(_COPY):
                h.update(chunk)
                out.write(chunk)
        actual = "sha256:" + h.hexdigest()
        if digest and actual != digest:
            raise PyboxError(f"{source.what}: {name} has digest {actual}, not {digest}")
        store.adopt_blob(tmp, actual)
    return actual


def import_oci(store, source, names, what):
    index = read_json(source, "index.json")
    descriptor = manifests.pick_from_index(index, None, what)
    ref_name = descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name")
    manifest_digest = _copy_described(store, source, descriptor)
    manifest = store.read_json_blob(manifest_digest)
    if manifests.is_index(manifest):
        chosen = manifests.pick_from_index(manifest, None, what)
        manifest_digest = _copy_described(store, source, chosen)
        manifest = store.read_json_blob(manifest_digest)
    manifests.check_manifest(manifest, what)
    for desc in [manifest["config"], *manifest["layers"]]:
        if not store.has_blob(desc["digest"]):
            _copy_described(store, source, desc)
    if not names and ref_name and "/" in ref_name:  # a bare tag ("latest") names no repository
        names = [_normal_name(ref_name)]
    return finish(store, manifest_digest, names, what)


def _copy_described(store, source, descriptor):
    """Copy the blob a descriptor names from blobs/ALGO/HEX of the layout, verified."""
    from pybox.images.reference import check_digest
    digest = check_digest(descriptor.get("digest", ""), source.what)
    algo, _, hexpart = digest.partition(":")
    return copy_blob(store, source, f"blobs/{algo}/{hexpart}", digest)


def import_docker(store, source, names, what):
    entries = read_json(source, "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise PyboxError(f"{what}: manifest.json of the docker archive lists no image")
    entry = entries[0]
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or \
            not isinstance(entry.get("Layers"), list):
        raise PyboxError(f"{what}: manifest.json of the docker archive has no Config or Layers")
    # The config's name is its digest (HEX.json, or blobs/sha256/HEX since docker 25), and so
    # is a layer's in the OCI form; a layer's content is checked against its diff id in finish.
    config_digest = copy_blob(store, source, entry["Config"], _named_digest(entry["Config"]))
    layers = [copy_blob(store, source, str(layer), _named_digest(str(layer)))
              for layer in entry["Layers"]]
    if not names:
        names = [_normal_name(tag) for tag in entry.get("RepoTags") or []]
    manifest_digest = store.put_blob_bytes(manifests.build(store, config_digest, layers))
    return finish(store, manifest_digest, names, what)


def _named_digest(name):
    parts = os.path.normpath(name).split("/")
    stem = parts[-1].removesuffix(".json")
    if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) and \
            (len(parts) == 1 or parts[-2] == "sha256"):
        return "sha256:" + stem
    return None


def import_rootfs_tarball(store, path, names, created=None, what="import"):
    """created: the image's creation time (default now); a fixed one makes imports repeatable."""
    path = os.path.realpath(path)  # the file named, wherever a symlink to it is
    layer = copy_blob(store, DirSource(os.path.dirname(path), what), os.path.basename(path))
    return _single_layer_image(store, layer, names, created, what)


def import_rootfs_dir(store, path, names, what):
    """Tar a plain root filesystem directory into one layer, then import that."""
    import tarfile
    with store.tempdir("rootfs-") as tmpdir:
        tmp = os.path.join(tmpdir, "layer.tar")
        with _step(f"{what}: archiving the directory"), \
                tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(path, arcname=".", recursive=True)
        return import_rootfs_tarball(store, tmp, names, what=what)


def _single_layer_image(store, layer, names, created, what):
    diff_id, chain = store.unpack_new_layer(layer, None, f"{what}: unpack layer 1/1")
    config = manifests.new_config([diff_id], created)
    config_digest = store.put_blob_bytes(json.dumps(config).encode())
    manifest_digest = store.put_blob_bytes(manifests.build(store, config_digest, [layer]))
    return store.record_image(manifest_digest, names)


def finish(store, manifest_digest, names, what="import"):
    """Unpack the layers of a manifest already in the store and record the image. A layer
    blob not known to hold its diff id is checked even when the layer is unpacked already."""
    from pybox.images.digests import chain_ids
    manifest = store.read_json_blob(manifest_digest)
    config = store.read_json_blob(manifest["config"]["digest"])
    layers = manifest["layers"]
    diff_ids = manifests.diff_ids(config, len(layers), what)
    known = store.layer_blobs()
    for i, (desc, diff_id, chain) in enumerate(zip(layers, diff_ids, chain_ids(diff_ids)), 1):
        store.ensure_layer(chain, desc["digest"], diff_id, f"{what}: unpack layer {i}/{len(layers)}",
                           check_blob=(desc["digest"], diff_id) not in known)
    return store.record_image(manifest_digest, names)
