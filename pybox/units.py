"""The text forms of sizes and CPU lists that configs, flags and kernel files use."""

# The highest user or group id: (uid_t)-1 means "no id" to the kernel.
MAX_ID = 4294967294

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text):
    """Bytes in docker's and runc's form (go-units RAMInBytes): 1024-based, a number with an
    optional k/m/g/t/p, an optional i and b: "100", "256m", "1g", "1.5k", "512KiB", "2 mb".

    ValueError for anything else (negative numbers too); callers say which flag or field it was.
    """
    value = text.strip().lower()
    if value.endswith("b"):
        value = value[:-1]
    if value.endswith("i"):
        value = value[:-1]
        if not value[-1:] or value[-1:] not in _UNITS:
            raise ValueError(text)
    unit = value[-1:] if value[-1:].isalpha() else ""
    digits = value[: len(value) - len(unit)].strip()
    first, dot, rest = digits.partition(".")
    if unit not in _UNITS or not first.isdigit() or (dot and not rest.isdigit()):
        raise ValueError(text)
    return int(float(digits) * _UNITS[unit])


def cpu_list(text):
    """The numbers of a list in the kernel's cpuset format: "0-2,5" -> [0, 1, 2, 5], sorted.

    An empty (or all-blank) text is the empty set, as an empty cpuset.mems file says; a
    malformed one ("a", "3-", "1,,2") is a ValueError.
    """
    if not text.strip():
        return []
    numbers = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(text)
        numbers.update(range(int(first), int(last if dash else first) + 1))
    return sorted(numbers)
