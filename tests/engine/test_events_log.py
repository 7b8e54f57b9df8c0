"""The engine's events log is rotated at its size limit (one old file kept) and read across the
rotation, also with writers in several processes at once."""

import os

from pybox import jsonio
from pybox.engine import containers, events
from tests.engine.test_records import FakeStore

LIMIT = 4000


def _setup(tmp_path, monkeypatch, limit=LIMIT):
    monkeypatch.setenv(events.MAX_ENV, str(limit))
    store = FakeStore(tmp_path)
    return store, containers.new(store, "writer", {"image": "busybox"})


def _numbers(found):
    return [int(e["Attributes"]["i"]) for e in found]


def test_concurrent_writers_rotate_to_one_old_file_and_stay_bounded(tmp_path, monkeypatch):
    """Four processes append 150 events each (about 130 KB) with a 20000-byte limit: the log is
    rotated several times, never to more than one old file, each never past its limit by more
    than the four writers' last lines; every line is whole and there once; the newest is kept."""
    store, box = _setup(tmp_path, monkeypatch, 20000)
    children = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                for i in range(150):
                    events.record(store, box, "start", writer=str(n), i=str(i))
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    events.record(store, box, "die", writer="parent", i="last")
    assert sorted(os.listdir(tmp_path)) == ["containers", "events.log", "events.log.1"]
    kept = []
    for name in ("events.log.1", "events.log"):
        with open(tmp_path / name, "rb") as f:
            lines = f.read().splitlines()
        kept += [jsonio.loads(line) for line in lines]  # every line whole
        assert os.path.getsize(tmp_path / name) <= 20000 + 4 * max(map(len, lines)) + 4
    ids = [(e["Attributes"]["writer"], e["Attributes"]["i"]) for e in kept]
    assert len(set(ids)) == len(ids) and ids[-1] == ("parent", "last") and len(ids) > 20000 // 250
    assert len(events.Reader(store).read()) == len(kept)


def test_a_follower_reads_across_rotations(tmp_path, monkeypatch):
    """A reader sees every event once, in order: one rotation between its reads, two (the file
    it holds open is finished, the one made and rotated meanwhile is read from its new name),
    and lines a writer appends to the old file after the rename."""
    store, box = _setup(tmp_path, monkeypatch)
    reader = events.Reader(store)
    assert reader.read() == []
    written = 0

    def write(n):
        nonlocal written
        for _ in range(n):
            events.record(store, box, "start", i=str(written))
            written += 1

    def rotated():
        return os.stat(tmp_path / "events.log.1").st_ino

    write(5)
    assert _numbers(reader.read()) == list(range(5))
    write(30)  # past the limit once (about 200 bytes an event)
    first = rotated()
    assert _numbers(reader.read()) == list(range(5, 35))
    write(40)  # twice more
    assert rotated() != first
    assert _numbers(reader.read()) == list(range(35, 75))
    late = os.open(tmp_path / "events.log", os.O_WRONLY | os.O_APPEND)  # a writer that opened it before the rotation
    write(30)
    line = (jsonio.dumps({"Type": "container", "Action": "die", "ID": box.id, "Name": "writer",
                          "time": 0, "timeNano": 0, "Attributes": {"i": "late"}}) + "\n").encode()
    assert _numbers(reader.read()) == list(range(75, 105))
    os.write(late, line)
    os.close(late)
    assert [e["Attributes"]["i"] for e in reader.read()] == ["late"]
    reader.close()
    # a new reader starts with the rotated file
    found = events.Reader(store).read()
    assert found[-1]["Attributes"]["i"] == "104" and len(found) > LIMIT // 250


def test_a_reader_before_the_first_event_and_between_rotations(tmp_path, monkeypatch):
    """No log yet; then a log made and rotated before the reader looks: it reads the old file."""
    store, box = _setup(tmp_path, monkeypatch)
    reader = events.Reader(store)
    assert reader.read() == []
    for i in range(15):  # below the limit
        events.record(store, box, "start", i=str(i))
    os.rename(tmp_path / "events.log", tmp_path / "events.log.1")  # rotated, nothing new yet
    assert _numbers(reader.read()) == list(range(15))
    events.record(store, box, "start", i="15")
    assert _numbers(reader.read()) == [15]


def test_a_bad_limit_is_the_default(monkeypatch):
    for text in ("", "0", "-5", "lots", "1.5"):
        monkeypatch.setenv(events.MAX_ENV, text)
        assert events.max_bytes() == events.DEFAULT_MAX
    monkeypatch.setenv(events.MAX_ENV, "4096")
    assert events.max_bytes() == 4096
