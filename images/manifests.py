"""Manifests, indexes and configs: media types, platform choice, and the checks they need."""

import os

from pybox.errors import PyboxError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
LAYER_TYPES = {None: OCI_LAYER, "gzip": OCI_LAYER + "+gzip", "zstd": OCI_LAYER + "+zstd"}
# Without these, registries answer with schema1 or 404 for OCI tags.
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def media_type(doc):
    return doc.get("mediaType") or ("index" if "manifests" in doc else
                                    "schema1" if doc.get("schemaVersion") == 1 else OCI_MANIFEST)


def is_index(doc):
    return media_type(doc) in (OCI_INDEX, DOCKER_LIST, "index")


def check_manifest(doc, what):
    kind = media_type(doc)
    if kind in DOCKER_SCHEMA1 or kind == "schema1" or doc.get("schemaVersion") == 1:
        raise PyboxError(f"{what}: Docker schema 1 manifests are not supported (deprecated since "
                         "2017); push the image again with a current client")
    if kind not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise PyboxError(f"{what}: unsupported manifest media type {kind!r}")
    if not isinstance(doc.get("config"), dict) or not isinstance(doc.get("layers"), list):
        raise PyboxError(f"{what}: manifest has no config or layers")
    from pybox.images.reference import check_digest
    for i, desc in enumerate([doc["config"], *doc["layers"]]):
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            raise PyboxError(f"{what}: manifest descriptor {i} has no digest")
        check_digest(desc["digest"], f"{what}: manifest descriptor {i}")


def host_platform():
    machine = os.uname().machine
    variant = "v8" if machine == "aarch64" else ("v7" if machine == "armv7l" else None)
    return {"os": "linux", "architecture": _ARCH.get(machine, machine), "variant": variant}


def parse_platform(text):
    """"os/arch[/variant]" (as in --platform) → dict."""
    if not text:
        return host_platform()
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise PyboxError(f"invalid platform {text!r}: expected os/arch[/variant]")
    return {"os": parts[0], "architecture": parts[1], "variant": parts[2] if len(parts) == 3 else None}


def pick_from_index(index, platform, what):
    """The manifest descriptor for platform (the host's by default) in an index."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict) and "digest" in m]
    if not entries:
        raise PyboxError(f"{what}: the index lists no manifests")
    want = platform or host_platform()
    candidates = [m for m in entries if "platform" not in m] if len(entries) == 1 else []
    for m in entries:
        p = m.get("platform") or {}
        if p.get("os") == want["os"] and p.get("architecture") == want["architecture"]:
            candidates.append(m)
    if want.get("variant"):
        exact = [m for m in candidates
                 if m.get("platform", {}).get("variant") in (want["variant"], None)]
        candidates = exact or candidates
    if not candidates:
        offered = ", ".join(_platform_text(m.get("platform") or {}) for m in entries)
        raise PyboxError(f"{what}: no image for {_platform_text(want)} (the index has {offered})")
    return candidates[0]


def _platform_text(p):
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


def diff_ids(config, count, what):
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise PyboxError(f"{what}: the image config has no rootfs.diff_ids list")
    if len(ids) != count:
        raise PyboxError(f"{what}: config lists {len(ids)} diff ids for {count} layers")
    return ids


def new_config(diff_ids, created=None):
    import time
    p = host_platform()
    config = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
              "architecture": p["architecture"], "os": "linux",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}
    if p["variant"]:
        config["variant"] = p["variant"]
    return config


def build(store, config_digest, layer_digests):
    """An OCI manifest (JSON bytes) for blobs already in the store."""
    import json
    from pybox.images.compression import compression_of

    def descriptor(media, digest):
        return {"mediaType": media, "digest": digest,
                "size": os.path.getsize(store.blob_path(digest))}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, config_digest),
                "layers": [descriptor(LAYER_TYPES[compression_of(store.blob_path(d))], d)
                           for d in layer_digests]}
    return json.dumps(manifest, indent=2).encode()
