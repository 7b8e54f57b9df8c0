"""pybox.jsonio against the standard library's json on the same inputs."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybox import jsonio

SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# JSON values as json.loads returns them (finite floats: NaN is not equal to itself).
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30)

# Text that is often nearly JSON: the parser's error paths as well as its happy one.
json_alphabet = st.sampled_from(list('{}[]:,"\\ \t\n\r0123456789.-+eEtrufalsnNIiy') + ["\\u", "\\ud800", "\x00", "é"])
nearly_json = st.lists(json_alphabet, max_size=40).map("".join)


@SETTINGS
@given(values)
def test_loads_reads_what_json_writes(value):
    for text in (json.dumps(value), json.dumps(value, indent=2), json.dumps(value, ensure_ascii=False)):
        assert jsonio.loads(text) == json.loads(text)
        assert jsonio.loads(text.encode()) == json.loads(text)


@SETTINGS
@given(values)
def test_dumps_writes_what_json_writes(value):
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert jsonio.dumps(value, indent=2) == json.dumps(value, indent=2)


@SETTINGS
@given(st.one_of(nearly_json, st.text(max_size=40)))
def test_loads_accepts_and_refuses_what_json_does(text):
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            jsonio.loads(text)
        return
    got = jsonio.loads(text)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "[" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
                                  "[" * (jsonio.MAX_DEPTH + 1) + "]" * (jsonio.MAX_DEPTH + 1)])
def test_deep_nesting_is_one_error(text):
    with pytest.raises(jsonio.TooDeep) as err:
        jsonio.loads(text)
    assert str(err.value) == f"nested too deeply (more than {jsonio.MAX_DEPTH} levels of arrays and objects)"


def test_what_loads_accepts_dumps_can_write_back_from_deep_in_the_stack():
    # A little below MAX_DEPTH: calls through C (pytest's plugins) count too, unseen as frames.
    depth = jsonio.MAX_DEPTH - 30
    text = "[" * depth + "]" * depth
    value = jsonio.loads(text)

    def deep(n):
        return deep(n - 1) if n else jsonio.dumps(value)
    assert deep(500) == text


def test_the_recursion_limit_is_restored():
    import sys
    before = sys.getrecursionlimit()
    for text in ("[1]", "[" * 100_000, "{bad"):
        try:
            jsonio.loads(text)
        except ValueError:
            pass
        assert sys.getrecursionlimit() == before
