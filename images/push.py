"""`pybox push REF [DEST]`: upload an image's blobs and manifest to a registry."""

from pybox.errors import PyboxError


def push(store, ref, dest=None, tls_verify=True):
    """Push the image `ref` from the store to `dest` (default: its own name). Returns dest."""
    from pybox.images.auth import credentials_for
    from pybox.images.reference import parse
    from pybox.images.registry import Registry
    from pybox.images.settings import Settings
    image = store.get(ref)
    target = parse(dest or ref)
    if target.digest:
        raise PyboxError(f"push destination {dest or ref!r}: cannot push to a digest")
    manifest = image.manifest
    body = _blob_bytes(store, image.digest)
    settings = Settings.load()
    if not tls_verify:
        settings.insecure_hosts.add(target.api_host)
    registry = Registry(target.api_host, settings, credentials_for(target.registry), "pull,push")
    what = f"push {target}"
    for desc in [manifest["config"], *manifest["layers"]]:
        digest = desc["digest"]
        if not store.has_blob(digest):
            raise PyboxError(f"{what}: blob {digest} is not in the store")
        if not registry.blob_exists(target.repository, digest, what):
            registry.upload_blob(target.repository, digest, store.blob_path(digest), what)
    registry.put_manifest(target.repository, target.tag, body, manifest.get("mediaType")
                          or "application/vnd.oci.image.manifest.v1+json", what)
    store.add_image(image.record, [str(target)], f"{target.name}@{image.digest}")
    return str(target)


def _blob_bytes(store, digest):
    with open(store.blob_path(digest), "rb") as f:
        return f.read()
