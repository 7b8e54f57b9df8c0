"""pybox.fsutil.write_atomic: the one atomic write (container state, pid files, the engine's
metadata, the image store's blobs and index, seccomp's compiled filter)."""

import os
import stat

import pytest

from pybox.fsutil import write_atomic


def test_text_and_bytes_replace_the_file_and_leave_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_atomic(str(path), "old")
    write_atomic(str(path), b"\x00new\xff")
    assert path.read_bytes() == b"\x00new\xff"
    assert os.listdir(tmp_path) == ["state.json"]


def test_mode_is_private_unless_asked(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "a"), "x")
        write_atomic(str(tmp_path / "b"), b"x", 0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "b").st_mode) == 0o644


def test_the_mode_holds_under_a_strict_umask(tmp_path):
    # netns/etcfiles.py's /etc/hosts must be readable by the container's other users.
    old = os.umask(0o077)
    try:
        write_atomic(str(tmp_path / "hosts"), "127.0.0.1\tlocalhost\n", 0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "hosts").st_mode) == 0o644


def test_a_symlink_at_the_temporary_name_is_not_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    data = b"payload"
    (tmp_path / f"out.tmp-4242-{id(data):x}").symlink_to(victim)
    with pytest.raises(OSError):
        write_atomic(str(tmp_path / "out"), data)
    assert victim.read_text() == "keep"


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    # A directory in the way makes the final rename fail after the data was written.
    target = tmp_path / "blob"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):
        write_atomic(str(target), b"data")
    assert sorted(os.listdir(tmp_path)) == ["blob"]
    assert (target / "inside").read_text() == "keep"
