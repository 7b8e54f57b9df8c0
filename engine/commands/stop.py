"""pybox stop [-t SECS] CONTAINER...: the stop signal, then SIGKILL after SECS (default 10)."""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("stop", [
    "--time -t = # seconds to wait after the stop signal before KILL (default 10)",
], rest="containers", usage="stop [-t SECS] CONTAINER...")


def timeout_of(v):
    text = v["time"] or "10"
    if not text.isdigit():
        raise PyboxError(f"--time {text!r}: expected whole seconds")
    return int(text)


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import stop
    _, v = parser.parse(argv)
    timeout = timeout_of(v)
    return for_each(v["containers"], lambda store, box: stop(g.root, box, timeout), "stop")
