"""pybox cp [-a] [-L] SRC DEST: copy between a container and the host (docker's cp).

One of SRC and DEST is CONTAINER:PATH; the other a host path, or `-` for a tar stream on
standard output (SRC CONTAINER:PATH) or input (DEST CONTAINER:DIR). `PATH/.` copies a
directory's contents.

The container's files are read and written by a child process chrooted into the container's
root (/proc/PID/root while it runs, so its mounts are seen; its rootfs otherwise), as docker's
chrootarchive does: every path, and every symlink in it, resolves inside the container and
cannot lead out. The receiving side extracts chrooted into the destination directory, so a
tar member can name nothing outside it either. Those children never look up user or group
names (that would load the container's NSS modules: CVE-2019-14271); owners are numeric, and
without -a the copies belong to root, as docker makes them.
"""

import os

from pybox.args import Parser
from pybox.errors import PyboxError

parser = Parser("cp", ["--archive -a # keep the files' owners (uid and gid) instead of making them root's",
                       "--follow-link -L # copy what a symlink SRC points to, not the link"],
                positionals=["src", "dest"],
                usage="cp [-a] [-L] CONTAINER:SRC DEST|-  or  cp [-a] SRC|- CONTAINER:DEST",
                description="Copy files or directories between a container and the host.")


def split(arg):
    """(container ref, path) for CONTAINER:PATH; (None, arg) for a host path or `-`."""
    ref, colon, path = arg.partition(":")
    if not colon or not ref or "/" in ref or arg.startswith((".", "/")):
        return None, arg
    return ref, path or "/"


def container_root(g, ref):
    """The directory to chroot into for a container: /proc/PID/root if it runs, its rootfs if not."""
    from pybox.engine.each import one
    from pybox.engine.lifecycle import runtime_record, runtime_root
    _, box = one(ref)
    record = runtime_record(runtime_root(g.root, box), box)
    if record is not None and record.init_alive():
        return box, f"/proc/{record.data['pid']}/root"
    from pybox.engine.lifecycle import open_store
    rootfs = os.path.join(open_store().rw_dir(box.id), "rootfs")  # the store's writable layer
    if not os.path.ismount(rootfs):
        raise PyboxError(f"container {box.name} has no root filesystem mounted")
    return box, rootfs


def main(g, argv):
    from pybox.engine.options import expand_short
    _, v = parser.parse(expand_short(parser, argv))
    (src_ref, src), (dest_ref, dest) = split(v["src"]), split(v["dest"])
    if (src_ref is None) == (dest_ref is None):
        raise PyboxError("cp: exactly one of SRC and DEST must be CONTAINER:PATH")
    what = f"cp {v['src']} {v['dest']}"
    if src_ref is not None:
        box, src_root = container_root(g, src_ref)
        src = os.path.join("/", src)
        dest_root = None
    else:
        box, dest_root = container_root(g, dest_ref)
        dest = os.path.join("/", dest)
        src_root = None
        if src != "-":
            src = os.path.abspath(src)
    if dest == "-" and dest_root is None:  # a tar stream on standard output
        _alone(what, lambda: _produce(src_root, src, 1, v["follow_link"]))
        return 0
    if src == "-":  # a tar stream from standard input
        _alone(what, lambda: _consume(dest_root, dest, 0, v["archive"], stream=True))
        return 0
    if dest_root is None:
        dest = os.path.abspath(dest)
    _copy(what, src_root, src, dest_root or "/", dest, v)
    return 0


def _copy(what, src_root, src, dest_root, dest, v):
    read_end, write_end = os.pipe()
    try:
        producer = _child(lambda: _produce(src_root, src, write_end, v["follow_link"]), [read_end])
        consumer = _child(lambda: _consume(dest_root, dest, read_end, v["archive"]), [write_end])
    finally:
        os.close(read_end)
        os.close(write_end)
    errors = [_reap(producer), _reap(consumer)]
    errors = [e for e in errors if e]
    if errors:
        raise PyboxError(f"{what}: {errors[0]}")


def _alone(what, action):
    error = _reap(_child(action, []))
    if error:
        raise PyboxError(f"{what}: {error}")


def _child(action, close):
    """Run action() in a child; returns (pid, the read end of its error pipe)."""
    import sys
    import tarfile  # noqa: F401 (loaded before any chroot: the container has no Python of ours)
    import stat  # noqa: F401
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(read_end)
            for fd in close:
                os.close(fd)
            action()
        except BaseException as err:  # noqa: BLE001 (everything becomes one line to the parent)
            text = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.filename else (
                err.strerror if isinstance(err, OSError) else str(err))
            os.write(write_end, text.encode(errors="replace")[:4000])
            status = 1
        os._exit(status)
    os.close(write_end)
    return pid, read_end


def _reap(child):
    pid, read_end = child
    with os.fdopen(read_end, "rb") as f:
        message = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status != 0 and not message:
        message = f"the copying process failed (status {status})"
    return message


def _no_names(tarfile):
    """No user or group name lookups: numeric owners only (the container's NSS stays unloaded)."""
    tarfile.pwd = None
    tarfile.grp = None


def _enter(root):
    if root is not None:
        os.chroot(root)
    os.chdir("/")


def _produce(root, src, out_fd, follow):
    """In the child: chroot into root and write a tar of src (top member: its name or `.`)."""
    import tarfile
    _no_names(tarfile)
    _enter(root)
    contents = src.endswith("/.") or src.endswith("/./")
    path = os.path.normpath(src)
    if follow:
        path = os.path.realpath(path)
    if not os.path.lexists(path):
        raise PyboxError(f"{src}: no such file or directory")
    if contents and not os.path.isdir(path):
        raise PyboxError(f"{src}: not a directory")
    top = "." if contents else (os.path.basename(path) or ".")
    with os.fdopen(out_fd, "wb", closefd=False) as out, tarfile.open(fileobj=out, mode="w|",
                                                                        format=tarfile.PAX_FORMAT) as tar:
        tar.add(path, arcname=top)


def _consume(root, dest, in_fd, archive, stream=False):
    """In the child: chroot into root, find the directory dest names, chroot into that, and
    extract there (renaming the top member when dest names a new file or directory)."""
    import stat
    import tarfile
    _no_names(tarfile)
    _enter(root)
    source = os.fdopen(in_fd, "rb", closefd=False)
    tar = tarfile.open(fileobj=source, mode="r|")
    members = iter(tar)
    first = next(members, None)
    if first is None:
        return
    top = first.name.rstrip("/") or "."
    if os.path.isdir(dest):
        target, rename = dest, None
    elif stream or dest.endswith("/"):
        raise PyboxError(f"{dest}: no such directory")
    else:
        target, rename = os.path.dirname(dest) or "/", os.path.basename(dest)
        if not os.path.isdir(target):
            raise PyboxError(f"{target}: no such directory")
        if os.path.lexists(dest) and first.isdir():
            raise PyboxError(f"{dest}: cannot copy a directory onto a file")
    os.chdir(target)
    os.chroot(".")  # from here nothing outside the destination directory can be named
    to_host = root == "/"
    for member in _chain(first, members):
        name = os.path.normpath(member.name)
        if name.startswith(("..", "/")):
            raise PyboxError(f"tar member {member.name!r} points outside the destination")
        name = _renamed(name, top, rename)
        if name == "." and member.isdir() and rename is None:
            continue  # the destination itself
        if to_host and member.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            continue  # no device nodes from a container on the host
        member.name = name
        if member.islnk():
            member.linkname = _renamed(os.path.normpath(member.linkname), top, rename)
        if not archive:
            member.uid = member.gid = 0
        if os.path.lexists(name):
            if member.isdir() and stat.S_ISDIR(os.lstat(name).st_mode):
                os.chmod(name, member.mode & 0o7777)
                continue
            if not stat.S_ISDIR(os.lstat(name).st_mode):
                os.unlink(name)  # a file or link is replaced, never written through
        tar.extract(member, "/", set_attrs=True, numeric_owner=True)


def _renamed(name, top, rename):
    if rename is None:
        return name
    if top == ".":
        return os.path.normpath(os.path.join(rename, name))
    if name == top or name.startswith(top + "/"):
        return rename + name[len(top):]
    return name


def _chain(first, rest):
    yield first
    yield from rest
