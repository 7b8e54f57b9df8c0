"""Container metadata (meta.json in the container's bundle) and lookup by name, id or id prefix."""

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
        self.data.update(fields)
        self.save()

    def exit_code(self):
        """conmon's exit file if it wrote one, else what a foreground run recorded."""
        try:
            with open(self.path("exits", self.id)) as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return self.data.get("exit_code")

    def finished_at(self):
        try:
            mtime = os.stat(self.path("exits", self.id)).st_mtime
        except FileNotFoundError:
            return self.data.get("finished")
        import time
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))


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
    return store.path("containers")


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
    for cid in sorted(os.listdir(containers_dir(store))):
        box = load_path(os.path.join(containers_dir(store), cid))
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
    with store.containers_lock():
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
    except (FileNotFoundError, ValueError):
        return None
