"""The engine's container records: concurrent updates keep each other's fields."""

import os

from pybox import jsonio
from pybox.engine import containers


class FakeStore:
    """Only a root: the engine's records live in containers/ under the store's root."""

    def __init__(self, root):
        self.root = str(root)

    def path(self, *parts):
        return os.path.join(self.root, *parts)


def test_two_processes_updating_different_fields_lose_neither(tmp_path):
    """The race seen in the field: `stop` released a container's address while conmon's exit
    clean-up saved its older copy of the record, so inspect showed the address after the stop.
    Each of two processes here sets its own field 300 times from its own stale copy."""
    box = containers.new(FakeStore(tmp_path), "racer", {"a": -1, "b": -1})
    children = []
    for field in ("a", "b"):
        pid = os.fork()
        if pid == 0:
            try:
                mine = containers.load_path(box.bundle)  # a copy loaded once, as each command has
                for i in range(300):
                    mine.update(**{field: i})
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    data = jsonio.load_file(os.path.join(box.bundle, containers.META))
    assert (data["a"], data["b"]) == (299, 299)


def test_records_live_in_the_engines_folder_and_are_removed_whole(tmp_path):
    store = FakeStore(tmp_path)
    box = containers.new(store, "one", {})
    assert os.path.dirname(box.bundle) == store.path("containers")
    assert [b.name for b in containers.all_boxes(store)] == ["one"]
    containers.remove(box)
    assert containers.all_boxes(store) == [] and not os.path.exists(box.bundle)


def test_an_update_after_the_record_was_removed_does_not_bring_it_back(tmp_path):
    """conmon's exit command releasing the address while `rm -f` removes the container: before,
    the update rewrote meta.json into the half-removed directory, and the container came back."""
    store = FakeStore(tmp_path)
    box = containers.new(store, "gone", {"lease": "x"})
    stale = containers.load_path(box.bundle)
    containers.remove(box)
    stale.update(lease=None)
    assert containers.all_boxes(store) == [] and not os.path.exists(box.bundle)
