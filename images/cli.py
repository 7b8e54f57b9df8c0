"""`pybox pull|images|rmi|image|import|push`, with docker's and podman's names and habits.

These are not on the container start path, so they use click (imported inside main).
"""

import json
import sys


def main(g, argv):
    if g.command == "pull" and "--help" not in argv and "-h" not in argv:
        return _pull_lean(argv)
    import click
    from pybox.errors import PyboxError
    commands = _commands(click)
    command = commands[g.command]
    if g.command == "image" and not argv:
        argv = ["--help"]  # as docker does: the list of image commands
    try:
        return command.main(args=argv, prog_name=f"pybox {g.command}", standalone_mode=False) or 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as err:
        raise PyboxError(err.format_message()) from None
    except click.exceptions.Abort as abort:
        if isinstance(abort.__context__, EOFError):  # not ^C: data that ended too soon
            raise PyboxError(f"{g.command}: unexpected end of data: {abort.__context__}") from None
        return 130


def _pull_lean(argv):
    """`pull` is what a person waits on most: click's 37 ms import is skipped here."""
    from pybox.errors import PyboxError
    from pybox.args import Parser
    parser = Parser("pull", ["--platform =", "--quiet -q", "--tls-verify ="], positionals=["ref"],
                    usage="pull [--platform os/arch[/variant]] [-q] [--tls-verify=false] REF")
    _, v = parser.parse(argv)
    tls = (v["tls_verify"] or "true").lower()
    if tls not in ("true", "false", "1", "0"):
        raise PyboxError(f"pull: --tls-verify takes true or false, not {v['tls_verify']!r}")
    _pull(v["ref"], v["platform"], v["quiet"], tls in ("true", "1"))
    return 0


def _pull(ref, platform, quiet, tls_verify):
    from pybox.images.progress import Progress
    progress = None if quiet else Progress.for_stream(sys.stderr)
    image = _store().pull(ref, platform=platform, progress=progress, tls_verify=tls_verify)
    print(image.id)


def _store():
    from pybox.images.store import Store
    return Store()


def _commands(click):
    TLS_VERIFY = click.option("--tls-verify", type=bool, default=True, show_default=True,
                              help="check the registry's TLS certificate (false also allows HTTP)")

    @click.command(help="Pull an image from a registry.")
    @click.option("--platform", help="os/arch[/variant] to pull from a multi-platform image")
    @click.option("--quiet", "-q", is_flag=True, help="print only the image id")
    @TLS_VERIFY
    @click.argument("ref")
    def pull(ref, platform, quiet, tls_verify):
        _pull(ref, platform, quiet, tls_verify)

    @click.command(help="List images.")
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
    @click.option("--quiet", "-q", is_flag=True, help="print only image ids")
    @click.option("--no-trunc", is_flag=True)
    def images(fmt, quiet, no_trunc):
        _list_images(_store().images(), fmt, quiet, no_trunc)

    @click.command(help="Remove images.")
    @click.option("--force", "-f", is_flag=True, help="untag an image even if a container uses it")
    @click.argument("refs", nargs=-1, required=True)
    def rmi(refs, force):
        store = _store()
        for ref in refs:
            what = store.get(ref).id
            result = store.remove(ref, force=force)
            print(f"{result.capitalize()}: {ref if result == 'untagged' else what}")

    @click.command(name="inspect", help="Show the records and configs of images as JSON.")
    @click.argument("refs", nargs=-1, required=True)
    def inspect(refs):
        store = _store()
        print(json.dumps([_inspect(store.get(ref)) for ref in refs], indent=2))

    @click.command(help="Remove images without a name that no container uses.")
    @click.option("--force", "-f", is_flag=True, help="(accepted for docker compatibility)")
    @click.option("--all", "-a", "all_", is_flag=True, help="(accepted; dangling images only)")
    def prune(force, all_):
        for image_id in _store().prune():
            print(f"Deleted: {image_id}")

    @click.command(name="import", help="Import a docker-save or OCI archive, an OCI layout, "
                   "or a root filesystem (tarball or directory; - for standard input).")
    @click.argument("source")
    @click.argument("name", required=False)
    def import_(source, name):
        from pybox.images.importer import import_image
        print(import_image(_store(), source, name).id)

    @click.command(help="Push an image to a registry.")
    @TLS_VERIFY
    @click.argument("ref")
    @click.argument("dest", required=False)
    def push(ref, dest, tls_verify):
        from pybox.images.push import push as push_image
        print(push_image(_store(), ref, dest, tls_verify))

    image = click.Group(name="image", help="Manage images.")
    image.add_command(inspect)
    image.add_command(prune)
    image.add_command(images, name="ls")
    image.add_command(images, name="list")
    image.add_command(rmi, name="rm")
    image.add_command(pull)
    image.add_command(push)
    image.add_command(import_)
    return {"pull": pull, "images": images, "rmi": rmi, "image": image, "import": import_,
            "push": push}


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
                           "Created": i.record.get("created"), "Size": i.record.get("size")}
                          for i in images], indent=2))
    else:
        print(f"{'REPOSITORY':40} {'TAG':16} {'IMAGE ID':14} {'CREATED':22} SIZE")
        for repo, tag, i in rows:
            short = i.id if no_trunc else i.id[7:19]
            print(f"{repo:40} {tag:16} {short:14} {_ago(i.record.get('created')):22} "
                  f"{_human(i.record.get('size') or 0)}")


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
