"""JSON without the `json` package.

`import json` pulls in `re` and `enum` (about 7 ms here), paid by every `create` and `start`.
The C accelerator `_json` that json itself uses does the real work; this module only wires it up.
"""

import _json
import sys

_ESCAPE = _json.encode_basestring_ascii


class _ScanContext:
    # The attributes _json.make_scanner reads from a json.JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo = None


_scan = _json.make_scanner(_ScanContext())
_WHITESPACE = " \t\n\r"

# Arrays and objects nested deeper than this are refused. The C scanner counts its nesting against
# the interpreter's recursion limit, so the limit is lowered to this much above the caller's depth
# (its Python frames: C calls between them use a few levels more) while it runs: what loads
# accepts, dumps (which the C encoder nests the same way) can write back from any depth the rest
# of pybox calls it at, and a document nested 100,000 deep is one error, not a RecursionError.
MAX_DEPTH = 200


class TooDeep(ValueError):
    pass


def loads(text):
    """Parse a JSON document; ValueError on malformed input (TooDeep when nested too deeply)."""
    if isinstance(text, bytes):
        text = text.decode()
    start = len(text) - len(text.lstrip(_WHITESPACE))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + MAX_DEPTH)
    try:
        value, end = _scan(text, start)
    except RecursionError:
        raise TooDeep(f"nested too deeply (more than {MAX_DEPTH} levels of arrays and objects)") from None
    except (StopIteration, ValueError, SystemError):
        _explain(text)
        raise ValueError("malformed JSON") from None
    finally:
        sys.setrecursionlimit(limit)
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data at character {end}")
    return value


def _depth():
    frame, depth = sys._getframe(1), 1
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _explain(text):
    """On the error path only, let the json package word the message."""
    import json
    try:
        json.loads(text)
    except ValueError as err:
        raise ValueError(str(err)) from None


def load_file(path):
    with open(path, "rb") as f:
        return loads(f.read())


_encode = _json.make_encoder(None, None, _ESCAPE, None, ":", ",", False, False, False)
_encode_sorted = _json.make_encoder(None, None, _ESCAPE, None, ":", ",", True, False, False)


def canonical(value):
    """json.dumps(value, sort_keys=True, separators=(",", ":")): one text for equal values.
    TypeError for what is not JSON data."""
    return "".join(_encode_sorted(value, 0))


def dumps(value, indent=None):
    """Serialise value; indent=N gives json.dumps(value, indent=N)'s layout."""
    if indent is None:
        return "".join(_encode(value, 0))
    out = []
    _pretty(value, out, " " * indent, "\n")
    return "".join(out)


def _pretty(value, out, step, pad):
    if isinstance(value, dict) and value:
        inner = pad + step
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + inner + _ESCAPE(str(key)) + ": ")
            _pretty(item, out, step, inner)
        out.append(pad + "}")
    elif isinstance(value, (list, tuple)) and value:
        inner = pad + step
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + inner)
            _pretty(item, out, step, inner)
        out.append(pad + "]")
    else:
        out.append("".join(_encode(value, 0)))
