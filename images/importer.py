"""`pybox import`: docker-save archives, OCI archives and layouts, and plain rootfs tarballs or dirs.

Archives are read member by member through tarfile (never extracted), and only the files an
image format names are read: blobs go into the store verified against their digests.
"""

import json
import os
import sys

from pybox.errors import PyboxError
from pybox.images import manifests

_COPY = 1 << 20


def import_image(store, source, name=None):
    """Import from a path (file or directory) or "-" (standard input); returns the Image."""
    names = [_normal_name(name)] if name else []
    before = set(store.new_blobs)
    try:
        with store.pulling():  # gc must not take the blobs written before the image is recorded
            return _import_any(store, source, names)
    except BaseException:
        store.forget_blobs(store.new_blobs - before)
        raise


def _import_any(store, source, names):
    if source == "-":
        return _import_stdin(store, names)
    if os.path.isdir(source):
        return _import_dir(store, source, names)
    if not os.path.isfile(source):
        raise PyboxError(f"import {source}: no such file or directory")
    return _import_file(store, source, names)


def _normal_name(name):
    from pybox.images.reference import parse
    ref = parse(name)
    if ref.digest:
        raise PyboxError(f"import name {name!r}: a name cannot carry a digest")
    return str(ref)


def _import_stdin(store, names):
    tmp = os.path.join(store.tempdir("stdin-"), "input")
    try:
        with open(tmp, "wb") as out:
            while chunk := sys.stdin.buffer.read(_COPY):
                out.write(chunk)
        return _import_file(store, tmp, names)
    finally:
        import shutil
        shutil.rmtree(os.path.dirname(tmp), ignore_errors=True)


def _import_dir(store, path, names):
    source = DirSource(path)
    if source.exists("oci-layout"):
        return import_oci(store, source, names)
    if source.exists("manifest.json"):
        return import_docker(store, source, names)
    return import_rootfs_dir(store, path, names)


def _import_file(store, path, names):
    import tarfile
    from pybox.images.compression import compression_of
    if compression_of(path) is not None and _compressed_archive(path):
        return _import_decompressed(store, path, names)
    if compression_of(path) is None:
        try:
            source = TarSource(path)
        except tarfile.TarError:
            raise PyboxError(f"import {path}: not a tar archive") from None
        with source:
            if source.exists("oci-layout"):
                return import_oci(store, source, names)
            if source.exists("manifest.json"):
                return import_docker(store, source, names)
    return import_rootfs_tarball(store, path, names)


_ARCHIVE_FILES = {"oci-layout", "index.json", "manifest.json", "repositories", "blobs", "json",
                  "VERSION", "layer.tar"}


def _compressed_archive(path):
    """Is this `docker save | gzip` (or an OCI archive) rather than a root filesystem?

    Reads names only until one could not be in an image archive, so a rootfs is told early.
    """
    import tarfile
    from pybox.images.compression import open_decompressed
    with open(path, "rb") as raw, tarfile.open(fileobj=open_decompressed(raw), mode="r|") as tar:
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


def _import_decompressed(store, path, names):
    from pybox.images.compression import open_decompressed
    tmp = os.path.join(store.tempdir("archive-"), "archive.tar")
    try:
        with open(path, "rb") as raw, open(tmp, "wb") as out:
            stream = open_decompressed(raw)
            while chunk := stream.read(_COPY):
                out.write(chunk)
        return _import_file(store, tmp, names)
    finally:
        import shutil
        shutil.rmtree(os.path.dirname(tmp), ignore_errors=True)


class DirSource:
    """Files of an image layout directory, by their relative names."""

    def __init__(self, path):
        self.root = path

    def exists(self, name):
        return os.path.isfile(self._path(name))

    def open(self, name):
        try:
            return open(self._path(name), "rb")
        except OSError as err:
            raise PyboxError(f"import {self.root}: cannot read {name}: {err.strerror}") from None

    def _path(self, name):
        name = os.path.normpath(name)
        if name.startswith(("/", "..")):
            raise PyboxError(f"import {self.root}: {name!r} points outside the layout")
        return os.path.join(self.root, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class TarSource(DirSource):
    """Files of an image archive (uncompressed tar), read in place."""

    def __init__(self, path):
        import tarfile
        self.root = path
        self.tar = tarfile.open(path, "r:")
        self.members = {os.path.normpath(m.name): m for m in self.tar.getmembers() if m.isreg()}

    def exists(self, name):
        return os.path.normpath(name) in self.members

    def open(self, name):
        member = self.members.get(os.path.normpath(name))
        if member is None:
            raise PyboxError(f"import {self.root}: the archive has no file {name}")
        return self.tar.extractfile(member)

    def __exit__(self, *exc):
        self.tar.close()


def read_json(source, name):
    with source.open(name) as f:
        try:
            return json.load(f)
        except ValueError as err:
            raise PyboxError(f"import: {name} is not valid JSON: {err}") from None


def copy_blob(store, source, name, digest=None):
    """Copy a file of the source into the store; verified if digest is given. Returns the digest."""
    import hashlib
    tmp = os.path.join(store.path("tmp"), f"import-{os.getpid()}-{id(name):x}")
    h = hashlib.sha256()
    with source.open(name) as src, open(tmp, "wb") as out:
        while chunk := src.read(_COPY):
            h.update(chunk)
            out.write(chunk)
    actual = "sha256:" + h.hexdigest()
    if digest and actual != digest:
        os.unlink(tmp)
        raise PyboxError(f"import: {name} has digest {actual}, not {digest}")
    store.adopt_blob(tmp, actual)
    return actual


def import_oci(store, source, names):
    index = read_json(source, "index.json")
    descriptor = manifests.pick_from_index(index, None, "import")
    ref_name = descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name")
    manifest_digest = _copy_described(store, source, descriptor)
    manifest = store.read_json_blob(manifest_digest)
    if manifests.is_index(manifest):
        chosen = manifests.pick_from_index(manifest, None, "import")
        manifest_digest = _copy_described(store, source, chosen)
        manifest = store.read_json_blob(manifest_digest)
    manifests.check_manifest(manifest, "import")
    for desc in [manifest["config"], *manifest["layers"]]:
        if not store.has_blob(desc["digest"]):
            _copy_described(store, source, desc)
    if not names and ref_name and "/" in ref_name:  # a bare tag ("latest") names no repository
        names = [_normal_name(ref_name)]
    return finish(store, manifest_digest, names)


def _copy_described(store, source, descriptor):
    """Copy the blob a descriptor names from blobs/ALGO/HEX of the layout, verified."""
    from pybox.images.reference import check_digest
    digest = check_digest(descriptor.get("digest", ""), "import")
    algo, _, hexpart = digest.partition(":")
    return copy_blob(store, source, f"blobs/{algo}/{hexpart}", digest)


def import_docker(store, source, names):
    entries = read_json(source, "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise PyboxError("import: manifest.json of the docker archive lists no image")
    entry = entries[0]
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or \
            not isinstance(entry.get("Layers"), list):
        raise PyboxError("import: manifest.json of the docker archive has no Config or Layers")
    config_digest = copy_blob(store, source, entry["Config"])
    layers = [copy_blob(store, source, str(layer)) for layer in entry["Layers"]]
    if not names:
        names = [_normal_name(tag) for tag in entry.get("RepoTags") or []]
    manifest_digest = store.put_blob_bytes(manifests.build(store, config_digest, layers))
    return finish(store, manifest_digest, names)


def import_rootfs_tarball(store, path, names, created=None):
    """created: the image's creation time (default now); a fixed one makes imports repeatable."""
    layer = copy_blob(store, DirSource(os.path.dirname(path) or "."), os.path.basename(path))
    return _single_layer_image(store, layer, names, created)


def import_rootfs_dir(store, path, names):
    """Tar a plain root filesystem directory into one layer, then import that."""
    import tarfile
    tmp = os.path.join(store.tempdir("rootfs-"), "layer.tar")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(path, arcname=".", recursive=True)
        return import_rootfs_tarball(store, tmp, names)
    finally:
        import shutil
        shutil.rmtree(os.path.dirname(tmp), ignore_errors=True)


def _single_layer_image(store, layer, names, created=None):
    diff_id, chain = store.unpack_new_layer(layer, None, layer)
    config = manifests.new_config([diff_id], created)
    config_digest = store.put_blob_bytes(json.dumps(config).encode())
    manifest_digest = store.put_blob_bytes(manifests.build(store, config_digest, [layer]))
    return store.record_image(manifest_digest, names)


def finish(store, manifest_digest, names):
    """Unpack the layers of a manifest already in the store and record the image."""
    from pybox.images.digests import chain_ids
    manifest = store.read_json_blob(manifest_digest)
    config = store.read_json_blob(manifest["config"]["digest"])
    diff_ids = manifests.diff_ids(config, len(manifest["layers"]), "import")
    for desc, diff_id, chain in zip(manifest["layers"], diff_ids, chain_ids(diff_ids)):
        store.ensure_layer(chain, desc["digest"], diff_id)
    return store.record_image(manifest_digest, names)
