"""pybox runtime COMMAND ...: pybox-runc's commands, with pybox's global options (--root, --log)."""


def main(g, argv):
    from pybox.command import dispatch
    from pybox.runtime.cli import COMMANDS, HELP, misdirected, prepare
    if not argv or argv[0] in ("--help", "-h", "help"):
        print(HELP.replace("pybox-runc [global options]", "pybox [global options] runtime"))
        return 0 if argv else 1
    g.command, g.program = argv[0], "pybox runtime"
    return dispatch(g, argv[1:], COMMANDS, misdirected, prepare)
