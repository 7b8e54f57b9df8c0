"""Builds layer tarballs and OCI image layouts for the image tests (no root needed)."""

import gzip
import hashlib
import io
import json
import os
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def entry(name, kind="file", data=b"", mode=None, uid=0, gid=0, link="", xattrs=None, size=None):
    """One tar member as a dict; kinds: file dir symlink hardlink char fifo."""
    return {"name": name, "kind": kind, "data": data, "mode": mode, "uid": uid, "gid": gid,
            "link": link, "xattrs": xattrs or {}, "size": size}


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}


def layer_tar(entries):
    """Uncompressed tar bytes of entries (dicts from entry())."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = _TYPES[e["kind"]]
            info.mode = e["mode"] if e["mode"] is not None else (0o755 if e["kind"] == "dir" else 0o644)
            info.uid, info.gid = e["uid"], e["gid"]
            info.mtime = 1700000000
            info.linkname = e["link"]
            info.size = len(e["data"]) if e["size"] is None else e["size"]
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e["xattrs"].items()}
            tar.addfile(info, io.BytesIO(e["data"]) if info.size else None)
    return out.getvalue()


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if how == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    return data


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout directory that tests fill with images."""

    def __init__(self, path):
        self.path = str(path)
        os.makedirs(os.path.join(self.path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": []}

    def blob(self, data):
        d = digest(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"digest": d, "size": len(data)}

    def image(self, layers, config=None, compression="gzip", docker=False, arch="amd64",
              variant=None):
        """Add one image; layers: lists of entry dicts. Returns the manifest descriptor."""
        tars = [layer_tar(entries) for entries in layers]
        cfg = {"architecture": arch, "os": "linux", "config": config or {"Cmd": ["/bin/sh"]},
               "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]},
               "history": [{"created_by": f"layer {i}"} for i in range(len(tars))]}
        if variant:
            cfg["variant"] = variant
        layer_type = DOCKER_LAYER if docker else \
            "application/vnd.oci.image.layer.v1.tar" + {"gzip": "+gzip", "zstd": "+zstd", None: ""}[compression]
        manifest = {
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG if docker else "application/vnd.oci.image.config.v1+json",
                       **self.blob(json.dumps(cfg).encode())},
            "layers": [{"mediaType": layer_type, **self.blob(compress(t, compression))} for t in tars]}
        return {"mediaType": manifest["mediaType"], **self.blob(json.dumps(manifest).encode()),
                "platform": {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}}

    def tag(self, descriptor, tag):
        self.index["manifests"].append(
            {**descriptor, "annotations": {"org.opencontainers.image.ref.name": tag}})
        self.save()

    def multi_arch(self, descriptors, tag):
        """An image index over several per-platform manifests, tagged as one image."""
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": descriptors}
        desc = {"mediaType": index["mediaType"], **self.blob(json.dumps(index).encode())}
        self.tag(desc, tag)

    def save(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(self.index, f)


# vfs_cap_data v2: CAP_SETUID and CAP_NET_BIND_SERVICE permitted. The byte 0x80 is not UTF-8:
# it travels in the PAX header as binary (tarfile's surrogateescape).
FILE_CAPS = "\x01\x00\x00\x02" + "\udc80\x04\x00\x00" + "\x00" * 12
BASE = [entry("bin", "dir"), entry("etc", "dir"), entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
        entry("etc/group", data=b"root:x:0:\napp:x:1000:\nwheel:x:10:app\n"),
        entry("bin/tool", data=b"#!/bin/sh\necho tool\n", mode=0o4755),
        entry("bin/alias", "symlink", link="tool"), entry("bin/hard", "hardlink", link="bin/tool"),
        entry("a", "dir"), entry("a/f1", data=b"one"), entry("a/f2", data=b"two", uid=1000, gid=1000),
        entry("b", "dir"), entry("b/x", data=b"x"), entry("c", "dir"), entry("c/keep", data=b"old"),
        entry("home", "dir"), entry("home/app", "dir", uid=1000, gid=1000, mode=0o700),
        entry("tmp", "dir", mode=0o1777), entry("fifo", "fifo"),
        entry("caps", data=b"cap", xattrs={"user.note": "hello"}),
        entry("bin/capped", data=b"elf", mode=0o755, xattrs={"security.capability": FILE_CAPS})]
TOP = [entry("a/.wh.f1"), entry(".wh.b"), entry("c", "dir"), entry("c/.wh..wh..opq"),
       entry("c/new", data=b"new"), entry("a/f3", data=b"three" * 1000, mode=0o600)]


def docker_save(path, layers, tag="example.com/app:v1"):
    """A `docker save` directory (the format before docker 25): HEX.json config, ID/layer.tar
    per layer (uncompressed), manifest.json. layers: lists of entry dicts."""
    os.makedirs(path)
    tars = [layer_tar(entries) for entries in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]}}).encode()
    config_name = digest(cfg)[7:] + ".json"
    with open(os.path.join(path, config_name), "wb") as f:
        f.write(cfg)
    names = []
    for i, data in enumerate(tars):
        layer_id = hashlib.sha256(f"layer {i} {digest(data)}".encode()).hexdigest()
        os.makedirs(os.path.join(path, layer_id))
        with open(os.path.join(path, layer_id, "layer.tar"), "wb") as f:
            f.write(data)
        names.append(f"{layer_id}/layer.tar")
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump([{"Config": config_name, "RepoTags": [tag], "Layers": names}], f)
    return str(path)


def tar_of_dir(path, dest):
    """The directory as an uncompressed tar archive at dest (how `docker save` ships it)."""
    with tarfile.open(dest, "w") as tar:
        for name in sorted(os.listdir(path)):
            tar.add(os.path.join(path, name), arcname=name)
    return str(dest)
