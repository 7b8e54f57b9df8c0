"""pybox restart [-t SECS] CONTAINER...: stop, then start again detached."""

from pybox.args import Parser
from pybox.engine.commands.stop import timeout_of

parser = Parser("restart", [
    "--time -t = # seconds to wait after the stop signal before KILL (default 10)",
], rest="containers", usage="restart [-t SECS] CONTAINER...")


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import start_again, stop
    _, v = parser.parse(argv)
    timeout = timeout_of(v)

    def restart(store, box):
        stop(g.root, box, timeout)
        start_again(g.root, store, box)
    return for_each(v["containers"], restart, "restart")
