"""`pybox pull`: resolve a reference to one manifest, fetch what is missing, unpack, record.

Layers are fetched and unpacked in parallel threads (downloading, zlib, zstd and hashing release
the GIL). Each blob and each layer has its own file lock, so concurrent pulls of the same image,
from threads or processes, download and unpack everything once.
"""

import json
import os
from contextlib import contextmanager

from pybox.errors import PyboxError
from pybox.images import manifests

PARALLEL = 4


def pull(store, text, platform=None, progress=None, tls_verify=True):
    from pybox.images.progress import Progress
    from pybox.images.reference import parse
    ref = parse(text)
    progress = progress or Progress()
    want = manifests.parse_platform(platform)
    with store.pulling():
        errors = []
        for source in _sources(ref, tls_verify):
            try:
                return _pull_from(store, source, ref, want, progress)
            except PyboxError as err:
                errors.append(err)
        raise errors[-1] if len(errors) == 1 else PyboxError(
            "; ".join(str(e) for e in errors))


def _sources(ref, tls_verify):
    """Registry hosts to try, mirrors first (mirrors serve only the registry's own repos)."""
    from pybox.images.settings import Settings
    settings = Settings.load()
    if not tls_verify:
        settings.insecure_hosts.add(ref.api_host)
    return [(m, settings) for m in settings.mirrors(ref.registry)] + [(ref.api_host, settings)]


def _pull_from(store, source, ref, want, progress):
    from pybox.images.auth import credentials_for
    from pybox.images.registry import Registry
    host, settings = source
    registry = Registry(host, settings, credentials_for(ref.registry))
    what = f"pull {ref}"
    manifest_digest, manifest = _resolve(store, registry, ref, want, what)
    config_desc = manifest["config"]
    _ensure_blob(store, registry, ref, config_desc, what, None)
    config = store.read_json_blob(config_desc["digest"])
    diff_ids = manifests.diff_ids(config, len(manifest["layers"]), what)
    _fetch_layers(store, registry, ref, manifest["layers"], diff_ids, what, progress)
    names = [str(ref)] if ref.tag else []
    return store.record_image(manifest_digest, names, f"{ref.name}@{manifest_digest}")


def _resolve(store, registry, ref, want, what):
    """The digest and content of the platform's manifest, stored as a blob."""
    body, digest = registry.get_manifest(ref.repository, ref.digest or ref.tag, what)
    doc = _json(body, what)
    if manifests.is_index(doc):
        desc = manifests.pick_from_index(doc, want, what)
        body, digest = registry.get_manifest(ref.repository, desc["digest"], what)
        if digest != desc["digest"]:
            raise PyboxError(f"{what}: manifest digest {digest} is not {desc['digest']}")
        doc = _json(body, what)
    manifests.check_manifest(doc, what)
    store.put_blob_bytes(body, digest)
    return digest, doc


def _json(body, what):
    try:
        doc = json.loads(body)
    except ValueError:
        raise PyboxError(f"{what}: the registry answered with something that is not JSON") from None
    if not isinstance(doc, dict):
        raise PyboxError(f"{what}: manifest is not a JSON object")
    return doc


def _ensure_blob(store, registry, ref, desc, what, progress):
    from pybox.images.reference import check_digest
    digest = check_digest(desc.get("digest", ""), what)
    if store.has_blob(digest):
        return
    with store.lock("blob-" + digest):
        if not store.has_blob(digest):
            with _download(store, registry, ref, desc, what, progress):
                pass


@contextmanager
def _download(store, registry, ref, desc, what, progress):
    """A stream of the blob that, once read to its end and verified, is kept in the store."""
    digest = desc["digest"]
    if progress:
        progress.start(digest, desc.get("size") or 0)
    with store.tempdir("blob-") as tmpdir:
        path = os.path.join(tmpdir, "data")
        with registry.blob_reader(ref.repository, digest, path, f"{what}: blob {digest[:19]}",
                                  progress) as reader:
            yield reader
        store.adopt_blob(path, digest)


def _check_unpacked_elsewhere(store, digest, diff_id, name):
    """A blob kept without unpacking it must still hold its layer: else it is not kept."""
    try:
        store.check_layer_blob(digest, diff_id, name)
    except PyboxError:
        try:  # just downloaded
            os.unlink(store.blob_path(digest))
        except FileNotFoundError:
            pass
        raise


def _fetch_layers(store, registry, ref, layers, diff_ids, what, progress):
    from concurrent.futures import ThreadPoolExecutor
    from pybox.images.digests import chain_ids
    from pybox.images.reference import check_digest

    def one(desc, diff_id, chain):
        digest = check_digest(desc.get("digest", ""), what)
        name = f"{what}: layer {digest[:19]}"
        if os.path.isdir(store.layer_dir(chain)):
            # Unpacked already, maybe from the same content compressed otherwise: the blob is
            # still fetched, so that every image in the store can be pushed.
            if not store.has_blob(digest):
                _ensure_blob(store, registry, ref, desc, what, progress)
                _check_unpacked_elsewhere(store, digest, diff_id, name)
            elif (digest, diff_id) not in known:
                store.check_layer_blob(digest, diff_id, name)
            progress.finish(digest, "Already exists")
            return
        if store.has_blob(digest):
            store.ensure_layer(chain, digest, diff_id, name)
        else:
            with store.lock("blob-" + digest):  # taken before the layer lock, always
                opener = None if store.has_blob(digest) else \
                    (lambda: _download(store, registry, ref, desc, what, progress))
                store.ensure_layer(chain, digest, diff_id, name, opener)
                if not store.has_blob(digest):  # another pull unpacked a twin meanwhile
                    with _download(store, registry, ref, desc, what, progress):
                        pass
                    _check_unpacked_elsewhere(store, digest, diff_id, name)
        progress.finish(digest, "Pull complete")

    known = store.layer_blobs()
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(one, d, i, c) for d, i, c in zip(layers, diff_ids, chain_ids(diff_ids))]
        for future in futures:
            future.result()
