"""The image store: blobs by digest, unpacked layers by chain id, images by name, containers' layers.

Layout under the root (default /var/lib/pybox, or $PYBOX_STORAGE; for an ordinary user, as
podman's, $XDG_DATA_HOME/pybox or ~/.local/share/pybox):
    blobs/sha256/HEX         manifests, configs and layer blobs, named by their digest
    layers/HEX/              one unpacked layer per chain id, shared by every image that has it
    rw/ID/                   upper/, work/ and rootfs/ (the overlay mount): one container's writable
                             layer over its image's layers
    images.json              image records and which container uses which image (its claim)
    locks/                   flock files: one per blob or layer being fetched, the index, gc
    tmp/                     work in progress: one directory per use, flocked by its writer
Everything is written to a temporary name in the same filesystem and renamed into place, so a
crash never leaves a half-written blob or layer under its final name; `gc` collects what a killed
process left in tmp/ (whatever is not flocked). Concurrent pulls of the same image take the same
per-blob and per-layer locks: one downloads, the others wait and reuse it.

The store owns everything above and nothing else: the engine keeps its container records
(containers/ID/: config.json, meta.json, logs) beside them, in a folder the store never touches.
A writable layer belongs to its claim in images.json (the image it uses); one without a claim is
an orphan of a killed mount, and `prune` removes it. The claim is taken after the directory exists
and dropped before the directory is removed, so a claim without its directory is a phantom of a
killed removal, and does not count.

Stores written before the engine had its own folder keep a container's layer in containers/ID/
(upper/, work/, rootfs/ beside the engine's files): such layers still count for their claims and
are unmounted and removed by unmount_rootfs, without the engine's files.
"""

import os

from pybox.errors import PyboxError

DEFAULT_ROOT = "/var/lib/pybox"


def default_root():
    from pybox import userns
    if userns.rootless_uid() is None:
        return DEFAULT_ROOT
    return os.path.join(userns.user_data_dir(), "pybox")


class Image:
    """An image in the store: its record plus lazily loaded config."""

    def __init__(self, store, record):
        self.store = store
        self.record = record
        self._config = None

    id = property(lambda self: self.record["id"])
    names = property(lambda self: self.record["names"])
    digest = property(lambda self: self.record.get("digest"))
    chain_ids = property(lambda self: self.record["chain"])

    @property
    def config(self):
        if self._config is None:
            self._config = self.store.read_json_blob(self.id)
        return self._config

    @property
    def manifest(self):
        return self.store.read_json_blob(self.digest)

    def layer_dirs(self):
        return [self.store.layer_dir(chain) for chain in self.chain_ids]

    def unpacked_size(self):
        """Bytes of its unpacked layers, as docker's SIZE counts them (every entry but directories,
        at its lstat size; a hard-linked file once); record["size"] is the compressed blobs'."""
        return sum(tree_size(path) for path in self.layer_dirs())

    def __repr__(self):
        return f"Image({self.id[7:19]} {' '.join(self.names)})"


def tree_size(top):
    seen = set()
    total = 0
    for parent, dirs, files in os.walk(top):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(parent, d))]:
            try:
                st = os.lstat(os.path.join(parent, name))
            except FileNotFoundError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


class Store:
    def __init__(self, root=None, max_layer_size=None):
        self.root = os.path.abspath(root or os.environ.get("PYBOX_STORAGE") or default_root())
        self.max_layer_size = max_layer_size  # overrides the settings' limits.max_layer_size
        self._limits = None
        # Written by this Store object, so that a failed import can take them back.
        self.new_blobs = set()
        self.new_layers = set()  # chain ids
        for sub in ("blobs/sha256", "layers", "rw", "locks", "tmp"):
            os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)

    # --- paths and locks -------------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def blob_path(self, digest):
        algo, _, hexpart = digest.partition(":")
        return self.path("blobs", algo, hexpart)

    def layer_dir(self, chain_id):
        return self.path("layers", chain_id.partition(":")[2])

    def lock(self, name, shared=False):
        from pybox.images.files import FileLock
        return FileLock(self.path("locks", name.replace(":", "-").replace("/", "_")), shared)

    def rw_lock(self):
        """Held while a writable layer's directory is made or collected as an orphan."""
        return self.lock("rw")

    def rw_dir(self, container_id):
        """A container's writable layer: rw/ID, or containers/ID in a store written before."""
        base = self.path("rw", container_id)
        if not os.path.isdir(base) and os.path.isdir(self.path("containers", container_id, "upper")):
            return self.path("containers", container_id)  # the old layout, shared with the engine
        return base

    @property
    def limits(self):
        """The decompression-bomb limits (settings.Limits) from the settings file and env."""
        if self._limits is None:
            from pybox.images.settings import Settings
            self._limits = Settings.load().limits
            if self.max_layer_size:
                self._limits.max_layer_size = self.max_layer_size
        return self._limits

    def budget(self, name):
        """A compression.Budget for one layer or archive: the limits, and the free space."""
        from pybox.images.compression import Budget, free_bytes
        return Budget(self.limits, name, free_bytes(self.root))

    def tempdir(self, prefix):
        """A context: a new directory in tmp/, flocked while in use, removed at the end (unless
        renamed away). gc removes the ones no live process holds."""
        return _TempDir(self.path("tmp"), prefix)

    # --- blobs -----------------------------------------------------------------------------
    def has_blob(self, digest):
        return os.path.exists(self.blob_path(digest))

    def read_json_blob(self, digest):
        import json
        try:
            with open(self.blob_path(digest), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            raise PyboxError(f"blob {digest} is missing from the store") from None

    def put_blob_bytes(self, data, digest=None):
        """Store data; returns its digest (checked against `digest` when one is given)."""
        from pybox.images.digests import sha256_bytes
        actual = sha256_bytes(data)
        if digest and digest != actual:
            raise PyboxError(f"blob {digest}: content has digest {actual}")
        if not self.has_blob(actual):
            from pybox.fsutil import write_atomic
            write_atomic(self.blob_path(actual), data, durable=True)
            self.new_blobs.add(actual)
        return actual

    def adopt_blob(self, path, digest):
        """Move a verified temporary file into place as blob `digest`."""
        os.chmod(path, 0o600)
        if not self.has_blob(digest):
            self.new_blobs.add(digest)
        os.replace(path, self.blob_path(digest))

    # --- layers ----------------------------------------------------------------------------
    def ensure_layer(self, chain_id, blob_digest, diff_id, name=None, opener=None,
                     check_blob=False):
        """Unpack the layer of chain_id unless it is there already.

        opener() gives the (compressed) blob stream; by default the blob file in the store, while
        a pull passes a download that is unpacked as it arrives. With check_blob, a blob whose
        layer is there already is still checked against the diff id.
        """
        name = name or f"layer {blob_digest}"
        final = self.layer_dir(chain_id)
        if os.path.isdir(final) and not check_blob:
            return final
        with self.lock("layer-" + chain_id):
            if not os.path.isdir(final):
                opener = opener or (lambda: open(self.blob_path(blob_digest), "rb"))
                self._unpack_layer(final, opener, diff_id, name)
                self.new_layers.add(chain_id)
            elif check_blob:
                self.check_layer_blob(blob_digest, diff_id, name)
        return final

    def _unpack_layer(self, final, opener, diff_id, name):
        with self.tempdir("layer-") as tmp:
            actual = self._unpack_into(tmp, opener, name)
            if diff_id and actual != diff_id:
                raise PyboxError(f"{name}: uncompressed digest {actual} is not the "
                                 f"diff id {diff_id} of the image config")
            os.rename(tmp, final)
        return actual

    def _unpack_into(self, tmp, opener, name):
        from pybox.images.unpack import unpack
        os.chmod(tmp, 0o755)
        with opener() as blob:
            return unpack(blob, tmp, self.budget(name), name)

    def unpack_new_layer(self, blob_digest, parent_chain, name):
        """Unpack a layer whose diff id is not known yet (imports); returns (diff_id, chain_id)."""
        from pybox.images.digests import chain_id as next_chain
        with self.tempdir("layer-") as tmp:
            diff_id = self._unpack_into(tmp, lambda: open(self.blob_path(blob_digest), "rb"), name)
            chain = next_chain(parent_chain, diff_id)
            with self.lock("layer-" + chain):
                if not os.path.isdir(self.layer_dir(chain)):
                    os.rename(tmp, self.layer_dir(chain))
                    self.new_layers.add(chain)
        return diff_id, chain

    def layer_blobs(self):
        """{(layer blob digest, diff id)} of the images recorded: pairs known to match."""
        pairs = set()
        for rec in self.load_index()["images"].values():
            blobs, diff_ids = rec.get("blobs", []), rec.get("diff_ids", [])
            if len(blobs) == 2 + len(diff_ids):  # else twin manifests' blobs are merged in
                pairs.update(zip(blobs[2:], diff_ids))
        return pairs

    def check_layer_blob(self, blob_digest, diff_id, name):
        """A blob whose layer is unpacked already (maybe from another blob) is not checked by
        unpacking it: its uncompressed digest must still be the diff id."""
        from pybox.images.compression import open_counted
        with open(self.blob_path(blob_digest), "rb") as raw:
            stream = open_counted(raw, self.budget(name))
            try:
                stream.drain()
            except PyboxError:
                raise
            except Exception as err:  # zlib.error, zstandard.ZstdError, EOFError, OSError
                raise PyboxError(f"{name}: corrupt compressed data: {err}") from None
        if stream.digest() != diff_id:
            raise PyboxError(f"{name}: uncompressed digest {stream.digest()} is not the "
                             f"diff id {diff_id} of the image config")

    # --- the index of images ---------------------------------------------------------------
    def load_index(self):
        import json
        try:
            with open(self.path("images.json"), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return {"images": {}, "containers": {}}

    def _save_index(self, index):
        import json
        from pybox.fsutil import write_atomic
        write_atomic(self.path("images.json"), json.dumps(index, indent=1).encode(), durable=True)

    def update_index(self, change):
        """Run change(index) under the index lock and save what it leaves; returns its result."""
        import json
        with self.lock("index"):
            index = self.load_index()
            before = json.dumps(index)
            result = change(index)
            if json.dumps(index) != before:
                self._save_index(index)
            return result

    def add_image(self, record, names=(), repo_digest=None):
        """Record an image and move `names` to it from any image that had them."""
        def change(index):
            images = index["images"]
            for other in images.values():
                other["names"] = [n for n in other["names"] if n not in names]
            rec = images.setdefault(record["id"], record)
            # One config may come with several manifests (gzip and zstd twins): keep all blobs.
            blobs = list(dict.fromkeys(rec.get("blobs", []) + record.get("blobs", [])))
            rec.update({k: v for k, v in record.items() if k not in ("names", "repo_digests")})
            rec["blobs"] = blobs
            rec["names"] = sorted(set(rec.get("names", [])) | set(names))
            digests = set(rec.get("repo_digests", []))
            if repo_digest:
                digests.add(repo_digest)
            rec["repo_digests"] = sorted(digests)
            return dict(rec)
        return Image(self, self.update_index(change))

    def record_image(self, manifest_digest, names=(), repo_digest=None):
        """Record an image whose manifest, config, blobs and layers are all in the store."""
        from pybox.images.digests import chain_ids
        manifest = self.read_json_blob(manifest_digest)
        config_digest = manifest["config"]["digest"]
        config = self.read_json_blob(config_digest)
        diff_ids = config["rootfs"]["diff_ids"]
        layers = [d["digest"] for d in manifest["layers"]]
        record = {"id": config_digest, "digest": manifest_digest, "chain": chain_ids(diff_ids),
                  "diff_ids": diff_ids, "blobs": [manifest_digest, config_digest, *layers],
                  "created": config.get("created"), "os": config.get("os"),
                  "architecture": config.get("architecture"),
                  "size": sum(d.get("size", 0) for d in manifest["layers"])}
        return self.add_image(record, names, repo_digest)

    def images(self):
        return [Image(self, rec) for rec in self.load_index()["images"].values()]

    def get(self, ref):
        """Find an image by name, name:tag, name@digest, id or id prefix."""
        image = self.find(ref)
        if image is None:
            raise PyboxError(f"image {ref!r} is not in the store (pull or import it first)")
        return image

    def find(self, ref):
        return self._lookup(ref)[0]

    def _lookup(self, ref):
        """(image, the name it matched or None); names win over id prefixes, as in docker."""
        from pybox.images.reference import looks_like_id, parse
        records = self.load_index()["images"]
        try:
            name = str(parse(ref))
        except PyboxError:
            if not looks_like_id(ref):
                raise
            name = None
        for rec in records.values():
            if name in rec["names"] or name in rec.get("repo_digests", ()):
                return Image(self, rec), name
        if looks_like_id(ref):
            hexpart = ref.removeprefix("sha256:")
            hits = [r for r in records.values() if r["id"][7:].startswith(hexpart)]
            if len(hits) > 1:
                raise PyboxError(f"image id {ref!r} is ambiguous: {len(hits)} images start so")
            if hits:
                return Image(self, hits[0]), None
        return None, None

    # --- removing --------------------------------------------------------------------------
    def remove(self, ref, force=False):
        """`rmi`: drop a name (or the image); an image a container uses keeps its layers."""
        image, name = self._lookup(ref)
        if image is None:
            self.get(ref)  # raises the error
        by_name = name in image.names and len(image.names) > 1

        def change(index):
            rec = index["images"].get(image.id)
            if rec is None:  # removed meanwhile by another rmi
                raise PyboxError(f"image {ref!r} is not in the store")
            users = [c for c, i in self._live_claims(index).items() if i == image.id]
            if by_name:
                if name in rec["names"]:
                    rec["names"].remove(name)
                return "untagged"
            if users and not force:
                raise PyboxError(f"image {ref!r} is used by container {users[0]} "
                                 "(remove the container first, or force)")
            if users:
                rec["names"] = []
                return "untagged"
            del index["images"][image.id]
            return "deleted"
        result = self.update_index(change)
        if result == "deleted":
            self.gc()
        return result

    def prune(self):
        """Remove images with no name that no container uses; returns their ids."""
        def change(index):
            used = set(self._live_claims(index).values())
            gone = [i for i, r in index["images"].items() if not r["names"] and i not in used]
            for image_id in gone:
                del index["images"][image_id]
            return gone
        self.collect_orphan_layers()
        with self.lock("gc"):
            self.collect_tmp()  # first: on a full disk, what is left there may be all the space
        gone = self.update_index(change)
        self.gc()
        return gone

    def _live_claims(self, index):
        """index["containers"] without phantoms: claims whose container directory is gone."""
        claims = index["containers"]
        for container_id in list(claims):
            if not os.path.isdir(self.rw_dir(container_id)):
                del claims[container_id]
        return claims

    def gc(self):
        """Delete blobs and layers no image refers to, and what killed processes left in tmp/.
        Pulls in progress hold the gc lock shared."""
        from pybox.images.files import remove_tree
        with self.lock("gc"), self.lock("index"):
            self.collect_tmp()
            records = self.load_index()["images"].values()
            chains = {c.partition(":")[2] for r in records for c in r["chain"]}
            blobs = {d.partition(":")[2] for r in records for d in r.get("blobs", [])}
            for entry in os.listdir(self.path("layers")):
                if entry not in chains:
                    remove_tree(self.path("layers", entry))
            for entry in os.listdir(self.path("blobs", "sha256")):
                if entry not in blobs:  # also blob.tmp-PID-N of a killed write_atomic
                    os.unlink(self.path("blobs", "sha256", entry))
            for entry in os.listdir(self.root):
                if entry.startswith("images.json.tmp-"):  # written under the index lock, held
                    os.unlink(self.path(entry))
            # Only pulls and imports take blob and layer locks, and they hold the gc lock
            # shared: with it held exclusively, no one waits on these files.
            for entry in os.listdir(self.path("locks")):
                if entry.startswith(("blob-", "layer-")):
                    os.unlink(self.path("locks", entry))

    def collect_tmp(self):
        """Remove the entries of tmp/ that no live process holds (files in tmp/ itself are from
        older versions, which wrote there only under the gc lock, now held). Returns their names."""
        import fcntl
        from pybox.images.files import remove_tree
        gone = []
        for entry in os.listdir(self.path("tmp")):
            path = self.path("tmp", entry)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            except OSError:  # not a directory
                remove_tree(path)
                gone.append(entry)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            else:
                remove_tree(path)
                gone.append(entry)
            finally:
                os.close(fd)
        return gone

    def forget(self, digests, chains=()):
        """Delete these blobs and layers unless an image refers to them (what a failed import
        wrote). Only with no pull or import running, which may be about to record an image
        with them; else they stay for gc."""
        from pybox.images.files import FileLock, remove_tree
        try:
            gc_lock = FileLock(self.path("locks", "gc"), wait=False).__enter__()
        except BlockingIOError:
            return
        try:
            with self.lock("index"):
                records = self.load_index()["images"].values()
                used = {d for r in records for d in r.get("blobs", [])}
                used_chains = {c for r in records for c in r["chain"]}
                for digest in set(digests) - used:
                    try:
                        os.unlink(self.blob_path(digest))
                    except FileNotFoundError:
                        pass
                for chain in set(chains) - used_chains:
                    remove_tree(self.layer_dir(chain))
        finally:
            gc_lock.__exit__()

    def pulling(self):
        """Held while fetching blobs or unpacking layers, so gc cannot remove them meanwhile."""
        return self.lock("gc", shared=True)

    # --- container root filesystems --------------------------------------------------------
    def mount_rootfs(self, image, container_id):
        """Mount an overlay of the image's layers with a private upper dir; returns its path."""
        from pybox.images.overlay import mount_overlay
        _check_container_id(container_id)
        base = self.path("rw", container_id)

        def claim(index):
            if image.id not in index["images"]:
                raise PyboxError(f"image {image.id} was removed from the store")
            if container_id in self._live_claims(index):
                raise PyboxError(f"container {container_id} already has a rootfs from image "
                                 f"{index['containers'][container_id][7:19]}")
            index["containers"][container_id] = image.id
        with self.rw_lock():  # an unclaimed directory is an orphan
            made = not os.path.isdir(base)
            os.makedirs(base, mode=0o700, exist_ok=True)
            try:
                self.update_index(claim)
            except BaseException:
                if made:
                    os.rmdir(base)
                raise
        try:
            for sub in ("upper", "work", "rootfs"):
                os.makedirs(os.path.join(base, sub), mode=0o755, exist_ok=True)
            rootfs = os.path.join(base, "rootfs")
            mount_overlay(image.layer_dirs(), os.path.join(base, "upper"),
                          os.path.join(base, "work"), rootfs)
            return rootfs
        except BaseException:
            self.unmount_rootfs(container_id)
            raise

    def remount_rootfs(self, image, container_id):
        """Mount a claimed writable layer again if it is not mounted (an ordinary user's mount
        namespace went with its pause process, as podman's does); returns the rootfs path."""
        from pybox.images.overlay import mount_overlay
        _check_container_id(container_id)
        base = self.rw_dir(container_id)
        rootfs = os.path.join(base, "rootfs")
        if not os.path.ismount(rootfs):
            mount_overlay(image.layer_dirs(), os.path.join(base, "upper"), os.path.join(base, "work"), rootfs)
        return rootfs

    def unmount_rootfs(self, container_id, wait=True):
        """Unmount and delete a container's writable layer and drop its claim; fine to call
        twice. Without wait, a layer another process is removing is left to it: returns False
        then."""
        from pybox.images.files import remove_tree
        from pybox.images.overlay import unmount
        _check_container_id(container_id)
        base = self.rw_dir(container_id)
        old_layout = not base.startswith(self.path("rw") + os.sep)
        held = _lock_dir(base, wait)
        if held is False:
            return False
        try:
            unmount(os.path.join(base, "rootfs"))

            def release(index):
                index["containers"].pop(container_id, None)
            self.update_index(release)  # before the directory goes: a kill leaves no phantom
            for path in ([os.path.join(base, sub) for sub in ("rootfs", "upper", "work")] if old_layout
                         else [base]):
                remove_tree(path)
        finally:
            if held is not None:
                os.close(held)
        return True

    def collect_orphan_layers(self):
        """Remove writable layers without a claim (left by a killed mount), unmounting what is
        mounted on them; returns their ids."""
        gone = []
        with self.rw_lock():
            claims = self._live_claims(self.load_index())
            for container_id in os.listdir(self.path("rw")):
                base = self.path("rw", container_id)
                if container_id in claims:
                    continue
                if not os.path.isdir(base) or os.path.islink(base):
                    os.unlink(base)
                elif self.unmount_rootfs(container_id, wait=False):
                    gone.append(container_id)
        return gone

    def containers(self):
        """container id -> image id, for every container with a mounted rootfs."""
        return dict(self.load_index()["containers"])

    # --- pulling and importing -------------------------------------------------------------
    def ensure(self, ref, platform=None, progress=None):
        """The image if the store has it (podman's --pull=missing), else pulled."""
        return self.find(ref) or self.pull(ref, platform, progress)

    def pull(self, ref, platform=None, progress=None, tls_verify=True):
        from pybox.images.pull import pull
        return pull(self, ref, platform, progress, tls_verify)


class _TempDir:
    def __init__(self, parent, prefix):
        self.parent = parent
        self.prefix = prefix
        self.path = self.fd = None

    def __enter__(self):
        import tempfile
        while True:
            path = tempfile.mkdtemp(prefix=self.prefix, dir=self.parent)
            fd = _lock_dir(path, wait=True)
            # gc may have taken it between mkdtemp and flock: then make another.
            if fd is not None and os.fstat(fd).st_nlink:
                self.path, self.fd = path, fd
                return path
            if fd is not None:
                os.close(fd)

    def __exit__(self, *exc):
        from pybox.images.files import remove_tree
        try:
            if os.path.isdir(self.path) and os.path.samestat(os.stat(self.path), os.fstat(self.fd)):
                remove_tree(self.path)
        finally:
            os.close(self.fd)


def _lock_dir(path, wait):
    """An fd of directory path holding its flock; None if there is no such directory, False if
    another process holds it and not wait."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return False
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_container_id(container_id):
    if not container_id or "/" in container_id or container_id in (".", "..") or "\0" in container_id:
        raise PyboxError(f"invalid container id {container_id!r}")
