"""Which form a shared command (kill, start, exec) takes: runc's or docker's. Costs a few stats.

runc's callers (podman, containerd) name containers by the id they created under --root and
never by a pybox name, so a word is docker's when it names a pybox-managed container or when
no runtime state has that id.
"""

import os


def store_root():
    # The image Store's root, computed without importing pybox.images on runc's path.
    return os.path.abspath(os.environ.get("PYBOX_STORAGE") or "/var/lib/pybox")


def is_managed_id(container_id):
    return "/" not in container_id and os.path.exists(
        os.path.join(store_root(), "containers", container_id, "meta.json"))


def is_docker_ref(root, word):
    """A managed id, or no runtime state by that id but a managed name or id prefix."""
    if is_managed_id(word):
        return True
    if os.path.isdir(os.path.join(root, word)) and word not in (".", ".."):
        return False
    from pybox.errors import PyboxError
    from pybox.engine.containers import resolve
    try:
        resolve(_StoreRoot(), word)
        return True
    except (PyboxError, OSError):
        return False  # runc's form then says "container does not exist"


class _StoreRoot:
    """Enough of an image Store for containers.resolve."""

    def path(self, *parts):
        return os.path.join(store_root(), *parts)


def words_of(argv, valued=()):
    """The positional words of argv, skipping the values of the options in `valued`."""
    words, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-") and not arg[1:].isdigit():
            skip = arg in valued
        else:
            words.append(arg)
    return words


def runtime_target(root, word):
    """(runtime root, container id) for a word that may be a pybox name or id prefix: a pybox
    container is under the --root it was created with."""
    if not is_docker_ref(root, word):
        return root, word
    from pybox.engine.containers import resolve
    from pybox.engine.lifecycle import reachable_root
    box = resolve(_StoreRoot(), word)
    return reachable_root(root, box), box.id
