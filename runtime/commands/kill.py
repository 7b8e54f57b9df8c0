"""pybox-runc kill [--all] ID [SIGNAL]: SIGNAL is a number or a name (KILL, SIGKILL), default TERM."""

import _signal  # `signal` imports enum: several ms on every kill

from pybox.errors import PyboxError
from pybox.args import Parser
from pybox.runtime.signals import parse_signal

parser = Parser("kill", [
    "--all -a # signal every process of the container, not only its init",
], positionals=["id"], rest="signal",
                usage="kill [--all] <container-id> [signal]")


def main(g, argv):
    from pybox.runtime.container import kill
    _, v = parser.parse(argv)
    if len(v["signal"]) > 1:
        raise PyboxError(f"kill: unexpected argument {v['signal'][1]!r}")
    sig = parse_signal(v["signal"][0]) if v["signal"] else _signal.SIGTERM
    kill(g.root, v["id"], sig, all_processes=v["all"])
    return 0
