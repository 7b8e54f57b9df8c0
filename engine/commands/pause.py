"""pybox pause CONTAINER... | pybox unpause CONTAINER...: freeze and thaw every process."""

from pybox.args import Parser

pause_parser = Parser("pause", [], rest="containers", usage="pause CONTAINER...")
unpause_parser = Parser("unpause", [], rest="containers", usage="unpause CONTAINER...")


def main(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import reachable_root
    from pybox.runtime import container
    thaw = g.command == "unpause"
    _, v = (unpause_parser if thaw else pause_parser).parse(argv)
    action = container.resume if thaw else container.pause
    return for_each(v["containers"], lambda store, box: action(reachable_root(g.root, box), box.id), g.command)
