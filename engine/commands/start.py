"""pybox start CONTAINER...: start stopped containers again, detached (docker's start)."""

from pybox.args import Parser

parser = Parser("start", [
    "--attach -a # attach to the container's output and wait for it",
    "--interactive -i # attach standard input too",
], rest="containers", usage="start CONTAINER...")


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import start_again
    _, v = parser.parse(argv)
    return for_each(v["containers"], lambda store, box: start_again(g.root, store, box), "start")
