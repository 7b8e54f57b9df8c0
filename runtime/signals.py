"""Signal names and numbers as runc's kill takes them (KILL, SIGKILL, 9), for the runtime and the engine."""

import _signal  # `signal` imports enum: several ms on every kill

from pybox.errors import PyboxError


def parse_signal(text):
    text = text.strip()
    if text.lstrip("-").isdigit():
        number = abs(int(text))
        if not 0 < number < _signal.NSIG:
            raise PyboxError(f"invalid signal {text!r}")
        return number
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    number = getattr(_signal, name, None)
    if not isinstance(number, int) or not 0 < number < _signal.NSIG:
        raise PyboxError(f"invalid signal {text!r}")
    return number
