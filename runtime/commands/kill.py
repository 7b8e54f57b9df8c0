"""pybox kill [--all] ID [SIGNAL]: SIGNAL is a number or a name (KILL, SIGKILL), default TERM.

docker's form: pybox kill [-s SIGNAL] CONTAINER... (default KILL), by name or id prefix.
"""

import _signal  # `signal` imports enum: several ms on every kill

from pybox.errors import PyboxError
from pybox.args import Parser
from pybox.runtime.signals import parse_signal

parser = Parser("kill", ["--all -a"], positionals=["id"], rest="signal",
                usage="kill [--all] <container-id> [signal]")


docker_parser = Parser("kill", ["--signal -s ="], rest="containers", usage="kill [-s SIGNAL] CONTAINER...")


def main(g, argv):
    if is_docker_form(g, argv):
        return docker_kill(g, argv)
    from pybox.runtime.container import kill
    _, v = parser.parse(argv)
    if len(v["signal"]) > 1:
        raise PyboxError(f"kill: unexpected argument {v['signal'][1]!r}")
    sig = parse_signal(v["signal"][0]) if v["signal"] else _signal.SIGTERM
    kill(g.root, v["id"], sig, all_processes=v["all"])
    return 0


def is_docker_form(g, argv):
    from pybox.engine.dispatch import is_docker_ref, words_of
    if any(arg.partition("=")[0] in ("-s", "--signal") for arg in argv):
        return True
    words = words_of(argv)
    if len(words) == 2 and _is_signal(words[1]):
        return False  # runc's `kill ID SIGNAL`
    return len(words) != 1 or is_docker_ref(g.root, words[0])


def _is_signal(word):
    try:
        parse_signal(word)
        return True
    except PyboxError:
        return False


def docker_kill(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import signal_box
    _, v = docker_parser.parse(argv)
    sig = parse_signal(v["signal"] or "KILL")
    return for_each(v["containers"], lambda store, box: signal_box(g.root, box, sig), "kill")
