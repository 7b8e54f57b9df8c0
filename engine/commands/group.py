"""`pybox container CMD`, `pybox system CMD`: docker's management groups, as other names for
pybox's own commands (`container ls` is `ps`, `system df` is df, `system prune`...)."""

CONTAINER = {"attach": "attach", "cp": "cp", "create": "create", "exec": "exec", "inspect": "inspect",
             "kill": "kill", "logs": "logs", "ls": "ps", "list": "ps", "ps": "ps", "pause": "pause",
             "port": "port", "prune": "prune", "rename": "rename", "restart": "restart", "rm": "rm",
             "run": "run", "start": "start", "stats": "stats", "stop": "stop", "top": "top",
             "unpause": "unpause", "wait": "wait"}
SYSTEM = {"df": "system-df", "events": "events", "info": "info", "prune": "system-prune",
          "migrate": "system-migrate"}
GROUPS = {"container": ("Manage containers.", CONTAINER), "system": ("Manage pybox.", SYSTEM)}


def main(g, argv):
    from pybox.args import HelpRequested
    from pybox.command import dispatch
    from pybox.engine.cli import COMMANDS
    from pybox.errors import PyboxError
    description, table = GROUPS[g.command]
    subs = {sub: name for sub, name in table.items() if name in COMMANDS}
    if not argv or argv[0] in ("-h", "--help"):
        lines = [f"usage: pybox {g.command} COMMAND", "", description, "", "commands:"]
        lines += [f"  {sub:10} = pybox {name.replace('system-', 'system ')}" for sub, name in subs.items()]
        raise HelpRequested("\n".join(lines))
    if argv[0] not in subs:
        raise PyboxError(f"{g.command}: unknown command {argv[0]!r} (one of {', '.join(subs)})")
    g.command = subs[argv[0]]
    return dispatch(g, argv[1:], COMMANDS)
