"""The on-disk cache: a repeat compile loads the same bytes; anything that matters changes the key."""

import os

from pybox.seccomp import cache, compile_filter, default_profile


def test_second_compile_comes_from_the_cache(tmp_path):
    profile = default_profile(["CAP_CHOWN"])
    first = compile_filter(profile, cache_dir=str(tmp_path))
    second = compile_filter(profile, cache_dir=str(tmp_path))
    assert not first.cached and second.cached
    assert first.program == second.program and first.flags == second.flags
    [entry] = os.listdir(tmp_path)
    assert entry.endswith(".bpf") and os.stat(tmp_path / entry).st_mode & 0o777 == 0o600


def test_key_depends_on_profile_and_versions():
    base = default_profile([])
    keys = {cache.key(base, "2.5.4"), cache.key(default_profile(["CAP_SYS_ADMIN"]), "2.5.4"),
            cache.key(base, "2.5.5")}
    assert len(keys) == 3
    assert cache.key(dict(reversed(list(base.items()))), "2.5.4") == cache.key(base, "2.5.4")


def test_a_damaged_entry_is_compiled_again(tmp_path):
    profile = default_profile([])
    good = compile_filter(profile, cache_dir=str(tmp_path)).program
    [entry] = os.listdir(tmp_path)
    (tmp_path / entry).write_bytes(b"\x06\x00\x00\x00\x00\x00")  # not a whole instruction
    again = compile_filter(profile, cache_dir=str(tmp_path))
    assert not again.cached and again.program == good
    assert (tmp_path / entry).read_bytes() == good


def test_an_unwritable_cache_only_costs_a_compile(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    filt = compile_filter(default_profile([]), cache_dir=str(blocker / "sub"))
    assert not filt.cached and filt.program


def test_invalid_profiles_are_never_cached(tmp_path):
    import pytest
    from pybox.errors import PyboxError
    with pytest.raises(PyboxError):
        compile_filter({"defaultAction": "nope"}, cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_cache_others_can_write_is_ignored(tmp_path):
    profile = default_profile([])
    compile_filter(profile, cache_dir=str(tmp_path))
    os.chmod(tmp_path, 0o777)
    try:
        assert not compile_filter(profile, cache_dir=str(tmp_path)).cached
    finally:
        os.chmod(tmp_path, 0o700)
    [entry] = os.listdir(tmp_path)
    os.chmod(tmp_path / entry, 0o666)
    assert not compile_filter(profile, cache_dir=str(tmp_path)).cached


def test_old_programs_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 2)
    for errno_ret in (1, 2, 3):
        compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno_ret}, cache_dir=str(tmp_path))
    assert len(os.listdir(tmp_path)) == 2
    assert compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 3}, cache_dir=str(tmp_path)).cached
