"""pybox kill [--all] ID [SIGNAL]: SIGNAL is a number or a name (KILL, SIGKILL), default TERM."""

import signal

from pybox.errors import PyboxError
from pybox.runtime.args import Parser

parser = Parser("kill", ["--all -a"], positionals=["id"], rest="signal",
                usage="kill [--all] <container-id> [signal]")


def parse_signal(text):
    text = text.strip()
    if text.lstrip("-").isdigit():
        number = abs(int(text))
        if not 0 < number < signal.NSIG:
            raise PyboxError(f"invalid signal {text!r}")
        return number
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(getattr(signal.Signals, name))
    except AttributeError:
        raise PyboxError(f"invalid signal {text!r}") from None


def main(g, argv):
    from pybox.runtime.container import kill
    _, v = parser.parse(argv)
    if len(v["signal"]) > 1:
        raise PyboxError(f"kill: unexpected argument {v['signal'][1]!r}")
    sig = parse_signal(v["signal"][0]) if v["signal"] else signal.SIGTERM
    kill(g.root, v["id"], sig, all_processes=v["all"])
    return 0
