"""`pybox pull|images|rmi|image|import|push`, with docker's and podman's names and habits.

They parse with pybox.args like every other command (click cost 37 ms per `pybox images`).
"""

import json
import sys

TLS_VERIFY = "--tls-verify = # check the registry's TLS certificate (false also allows HTTP); default true"

# command: (options, positionals, optional positionals, rest (one or more words), usage, description)
COMMANDS = {
    "pull": (["--platform = # os/arch[/variant] to pull from a multi-platform image",
              "--quiet -q # print only the image id", TLS_VERIFY], ["ref"], [], None,
             "pull [--platform os/arch[/variant]] [-q] [--tls-verify=false] REF",
             "Pull an image from a registry.\n\nexamples:\n"
             "  pybox pull busybox                          docker.io/library/busybox:latest\n"
             "  pybox pull --platform linux/arm64 alpine:3.19\n"
             "  pybox pull --tls-verify=false localhost:5000/app:1   a plain-HTTP registry"),
    "images": (["--format = # table or json (default table)", "--quiet -q # print only image ids",
                "--no-trunc # show whole image ids"], [], [], None,
               "images [--format table|json] [-q] [--no-trunc]", "List images.\n\nexamples:\n"
               "  pybox images                       name, tag, id, age and unpacked size\n"
               "  pybox images -q                    only the ids\n"
               "  pybox images --format json"),
    "rmi": (["--force -f # untag an image even if a container uses it"], [], [], "refs",
            "rmi [-f] IMAGE...", "Remove images."),
    "inspect": ([], [], [], "refs", "image inspect IMAGE...",
                "Show the records and configs of images as JSON."),
    "prune": (["--force -f # (accepted for docker compatibility)",
               "--all -a # (accepted; dangling images only)"], [], [], None,
              "image prune [-f] [-a]", "Remove images without a name that no container uses."),
    "import": ([], ["source"], ["name"], None, "import SOURCE [NAME]",
               "Import a docker-save or OCI archive, an OCI layout, "
               "or a root filesystem (tarball or directory; - for standard input)."),
    "push": ([TLS_VERIFY], ["ref"], ["dest"], None, "push [--tls-verify=false] IMAGE [DEST]",
             "Push an image to a registry."),
}
# `pybox image SUB`: docker's names for the same commands
IMAGE_COMMANDS = {"inspect": "inspect", "prune": "prune", "ls": "images", "list": "images",
                  "rm": "rmi", "pull": "pull", "push": "push", "import": "import"}


def main(g, argv):
    from pybox.errors import PyboxError
    name, prog = g.command, g.command
    if name == "image":
        from pybox.args import HelpRequested
        if not argv or argv[0] in ("-h", "--help"):  # as docker does: the list of image commands
            raise HelpRequested(_image_help())
        if argv[0] not in IMAGE_COMMANDS:
            raise PyboxError(f"image: unknown command {argv[0]!r} (one of {', '.join(IMAGE_COMMANDS)})")
        name, prog, argv = IMAGE_COMMANDS[argv[0]], f"image {argv[0]}", argv[1:]
    v = _parser(name, prog).parse(argv)[1]
    try:
        RUN[name](v)
    except EOFError as err:  # data that ended too soon
        raise PyboxError(f"{prog}: unexpected end of data: {err}") from None
    except KeyboardInterrupt:
        return 130
    return 0


def _parser(name, prog):
    from pybox.args import Parser
    options, positionals, optional, rest, usage, description = COMMANDS[name]
    return Parser(prog, options, positionals=positionals, optional=optional, rest=rest,
                  rest_required=bool(rest), usage=usage, description=description)


def _image_help():
    lines = ["usage: pybox image COMMAND", "", "Manage images.", "", "commands:"]
    for sub, name in IMAGE_COMMANDS.items():
        lines.append(f"  {sub:10} {COMMANDS[name][5].splitlines()[0]}")
    return "\n".join(lines)


def _tls_verify(prog, value):
    from pybox.errors import PyboxError
    word = (value or "true").lower()
    if word in ("true", "1", "yes", "y", "on", "t"):
        return True
    if word in ("false", "0", "no", "n", "off", "f"):
        return False
    raise PyboxError(f"{prog}: --tls-verify takes true or false, not {value!r}")


def _pull(v):
    from pybox.images.progress import Progress
    progress = None if v["quiet"] else Progress.for_stream(sys.stderr)
    image = _store().pull(v["ref"], platform=v["platform"], progress=progress,
                          tls_verify=_tls_verify("pull", v["tls_verify"]))
    print(image.id)


def _images(v):
    from pybox.errors import PyboxError
    fmt = v["format"] or "table"
    if fmt not in ("table", "json"):
        raise PyboxError(f"images: --format takes table or json, not {fmt!r}")
    _list_images(_store().images(), fmt, v["quiet"], v["no_trunc"])


def _rmi(v):
    store = _store()
    for ref in v["refs"]:
        what = store.get(ref).id
        result = store.remove(ref, force=v["force"])
        print(f"{result.capitalize()}: {ref if result == 'untagged' else what}")


def _inspect_cmd(v):
    store = _store()
    print(json.dumps([_inspect(store.get(ref)) for ref in v["refs"]], indent=2))


def _prune(v):
    for image_id in _store().prune():
        print(f"Deleted: {image_id}")


def _import(v):
    from pybox.images.importer import import_image
    print(import_image(_store(), v["source"], v["name"]).id)


def _push(v):
    from pybox.images.push import push as push_image
    print(push_image(_store(), v["ref"], v["dest"], _tls_verify("push", v["tls_verify"])))


RUN = {"pull": _pull, "images": _images, "rmi": _rmi, "inspect": _inspect_cmd, "prune": _prune,
       "import": _import, "push": _push}


def _store():
    from pybox.images.store import Store
    return Store()


def _inspect(image):
    """docker image inspect's main fields."""
    config, rec = image.config, image.record
    return {"Id": image.id, "RepoTags": image.names, "RepoDigests": rec.get("repo_digests", []),
            "Digest": image.digest, "Created": config.get("created"),
            "Architecture": config.get("architecture"), "Os": config.get("os"),
            "Variant": config.get("variant"), "Size": rec.get("size"),
            "Config": config.get("config") or {}, "RootFS": config.get("rootfs"),
            "Layers": image.layer_dirs()}


def _list_images(images, fmt, quiet, no_trunc):
    rows = []
    for image in sorted(images, key=lambda i: i.record.get("created") or "", reverse=True):
        for name in image.names or ["<none>:<none>"]:
            repo, _, tag = name.rpartition(":") if "@" not in name else (name, "", "<none>")
            rows.append((repo, tag, image))
    if quiet:
        for image_id in dict.fromkeys(i.id if no_trunc else i.id[7:19] for _, _, i in rows):
            print(image_id)
    elif fmt == "json":
        print(json.dumps([{"Id": i.id, "Names": i.names, "Digest": i.digest,
                           "RepoDigests": i.record.get("repo_digests", []),
                           "Created": i.record.get("created"), "Size": i.unpacked_size(),
                           "CompressedSize": i.record.get("size")}
                          for i in images], indent=2))
    else:
        print(f"{'REPOSITORY':40} {'TAG':16} {'IMAGE ID':14} {'CREATED':22} SIZE")
        sizes = {i.id: i.unpacked_size() for i in images}  # docker's SIZE: unpacked, not compressed
        for repo, tag, i in rows:
            short = i.id if no_trunc else i.id[7:19]
            print(f"{repo:40} {tag:16} {short:14} {_ago(i.record.get('created')):22} "
                  f"{_human(sizes[i.id])}")


def _ago(created):
    """"3 days ago", as docker and podman show it."""
    import calendar
    import time
    try:
        then = calendar.timegm(time.strptime((created or "")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "unknown"
    seconds = max(0, time.time() - then)
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "Less than a minute ago"


def _human(size):
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g} {unit}" if unit != "B" else f"{size} B"
        size /= 1000
