"""The engine's container records, and lookup by name, id or id prefix.

The engine owns containers/ID/ beside the image store's folders (under the store's root): the
container's bundle (config.json), its record (meta.json: name, image, ports, lease, times, exit
code), conmon's log and exit files, and etc/. The store owns the writable layer the bundle's
root.path points at (rw/ID/rootfs) and never touches this folder; this module is the one that
creates, lists, updates and removes records.

A record is updated under an flock of its directory, re-read from disk first (update()), so two
processes that change different fields (stop's address release and conmon's exit clean-up) never
lose each other's change.
"""

import os

from pybox import jsonio
from pybox.errors import PyboxError
from pybox.fsutil import write_atomic
from pybox.runtime.state import now_rfc3339

META = "meta.json"


class Box:
    """One docker-style container: its bundle directory and its metadata."""

    def __init__(self, bundle, data):
        self.bundle = bundle
        self.data = data

    id = property(lambda self: self.data["id"])
    name = property(lambda self: self.data["name"])

    def path(self, *parts):
        return os.path.join(self.bundle, *parts)

    def save(self):
        write_atomic(self.path(META), jsonio.dumps(self.data))

    def update(self, **fields):
        """Set these fields in the record on disk (as it is now) and in self.data."""
        import fcntl
        try:
            fd = os.open(self.bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            self.data.update(fields)
            return  # removed meanwhile (rm -f while conmon's exit command ran): nothing to bring back
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                data = jsonio.load_file(self.path(META))
            except FileNotFoundError:
                self.data.update(fields)
                return  # removed while we waited for the lock: writing would bring it back
            except ValueError:
                data = self.data  # damaged: ours is the best there is
            data.update(fields)
            self.data = data
            self.save()
        finally:
            os.close(fd)

    def exit_code(self):
        """conmon's exit file if it wrote one, else what a foreground run recorded."""
        try:
            with open(self.path("exits", self.id)) as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return self.data.get("exit_code")

    def finished_at(self):
        try:
            mtime = os.stat(self.path("exits", self.id)).st_mtime_ns
        except FileNotFoundError:
            return self.data.get("finished")
        import time
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mtime // 10**9)) + f".{mtime % 10**9:09d}Z"


def seconds_since(stamp):
    """Seconds from an RFC 3339 time (as meta.json keeps them) to now; None if unreadable."""
    import calendar
    import time
    try:
        then = calendar.timegm(time.strptime((stamp or "")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return max(0, time.time() - then)


def containers_dir(store):
    path = store.path("containers")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def names_lock(store):
    """Held while a record is made (its name reserved) or an orphan record collected."""
    from pybox.images.files import FileLock
    return FileLock(os.path.join(containers_dir(store), ".lock"))


def load(store, container_id):
    bundle = os.path.join(containers_dir(store), container_id)
    try:
        return Box(bundle, jsonio.load_file(os.path.join(bundle, META)))
    except FileNotFoundError:
        return None
    except ValueError:
        raise PyboxError(f"container {container_id}: {META} is damaged") from None


def all_boxes(store):
    """Every container with readable metadata (a damaged one is still found by its full id)."""
    boxes = []
    top = containers_dir(store)
    for cid in sorted(os.listdir(top)):
        if cid.startswith("."):
            continue
        box = load_path(os.path.join(top, cid))
        if box is not None:
            boxes.append(box)
    return sorted(boxes, key=lambda b: b.data.get("created", ""), reverse=True)


def resolve(store, ref):
    """The container named ref, with id ref, or whose id starts with ref (if only one does)."""
    if not ref or "/" in ref or ref in (".", ".."):
        raise PyboxError(f"no such container: {ref!r}")
    box = load(store, ref)
    if box is not None:
        return box
    boxes = all_boxes(store)
    for box in boxes:
        if box.name == ref:
            return box
    hits = [box for box in boxes if box.id.startswith(ref)]
    if len(hits) > 1:
        raise PyboxError(f"container id prefix {ref!r} is ambiguous: {len(hits)} containers start so")
    if not hits:
        raise PyboxError(f"no such container: {ref}")
    return hits[0]


def new(store, name, fields):
    """Reserve a name and an id; the Box's bundle exists when this returns."""
    container_id = os.urandom(32).hex()
    if name:
        check_name(name)
    with names_lock(store):
        taken = {box.name for box in all_boxes(store)}
        if name in taken:
            raise PyboxError(f"the container name {name!r} is already in use")
        name = name or _generated_name(taken)
        bundle = os.path.join(containers_dir(store), container_id)
        os.makedirs(bundle, 0o700)
        box = Box(bundle, dict(fields, id=container_id, name=name, created=now_rfc3339()))
        try:
            box.save()
        except BaseException:  # a full disk: no directory without its record
            from pybox.images.files import remove_tree
            remove_tree(bundle)
            raise
    return box


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def check_name(name):
    if not name[0].isalnum() or not _NAME_CHARS.issuperset(name) or len(name) > 128:
        raise PyboxError(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")


_ADJECTIVES = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid",
               "merry", "nifty", "proud", "quiet", "sharp", "sleepy", "tender", "vivid", "witty")
_NOUNS = ("babbage", "curie", "darwin", "euler", "fermat", "gauss", "hopper", "knuth", "lovelace",
          "noether", "pascal", "ritchie", "shannon", "tesla", "turing", "wozniak")


def _generated_name(taken):
    import random
    for _ in range(100):
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}"
        if name not in taken:
            return name
    return f"pybox_{os.urandom(4).hex()}"


def load_path(bundle):
    try:
        return Box(bundle, jsonio.load_file(os.path.join(bundle, META)))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def remove(box):
    """The record and everything else in the container's directory (after its layer is gone),
    under the record's lock: an update waiting for it then finds no record and writes none."""
    import fcntl
    from pybox.images.files import remove_tree
    try:
        fd = os.open(box.bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        remove_tree(box.bundle)
    finally:
        os.close(fd)


def collect_orphans(store):
    """Remove what killed `run`s and `rm`s left: a container directory without a record, and a
    writable layer the store holds for a container that has no record. Returns their ids."""
    from pybox.images.files import remove_tree
    gone = []
    with names_lock(store):
        top = containers_dir(store)
        for cid in os.listdir(top):
            path = os.path.join(top, cid)
            if cid.startswith(".") or os.path.lexists(os.path.join(path, META)):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                if os.path.isdir(os.path.join(path, "upper")):  # a layer in the store's old layout
                    store.unmount_rootfs(cid, wait=False)
                remove_tree(path)
            else:
                os.unlink(path)
            gone.append(cid)
        for cid in store.containers():
            if not os.path.lexists(os.path.join(top, cid, META)) and store.unmount_rootfs(cid, wait=False):
                gone.append(cid)
    return gone
