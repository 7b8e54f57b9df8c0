"""pybox top CONTAINER [ps options]: the host's ps, only the container's processes."""

from pybox.args import Parser

parser = Parser("top", [], positionals=["container"], rest="ps_args", usage="top CONTAINER [ps options]")


def main(g, argv):
    from pybox.runtime.commands.ps import _table
    from pybox.runtime.container import pids
    from pybox.engine.each import one
    from pybox.engine.lifecycle import reachable_root
    _, v = parser.parse(argv)
    _, box = one(v["container"])
    return _table(sorted(pids(reachable_root(g.root, box), box.id)), v["ps_args"] or ["-ef"])
