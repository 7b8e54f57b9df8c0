"""pybox kill [-s SIGNAL] CONTAINER...: docker's kill (default KILL), by name or id prefix."""

from pybox.args import Parser

parser = Parser("kill", [
    "--signal -s = # the signal to send, by name or number (default KILL)",
], rest="containers", usage="kill [-s SIGNAL] CONTAINER...")


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import signal_box
    from pybox.runtime.signals import parse_signal
    _, v = parser.parse(argv)
    sig = parse_signal(v["signal"] or "KILL")
    return for_each(v["containers"], lambda store, box: signal_box(g.root, box, sig), "kill")
