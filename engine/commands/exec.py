"""pybox exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] [--privileged] CONTAINER COMMAND...

docker's exec, naming the container by name or id prefix; it becomes the runtime's exec of the
container's id under the --root it was created with.
"""

from pybox.args import Parser

parser = Parser("exec", [
    "--interactive -i # keep standard input open and pass it to the command",
    "--tty -t # give the command a terminal",
    "--detach -d # run the command in the background",
    "--env -e * # set an environment variable: KEY=VALUE",
    "--user -u = # run as USER[:GROUP] (name or number)",
    "--workdir -w = # the command's working directory",
    "--privileged # every capability for this command",
], positionals=["container"], rest="args", usage="exec [-it] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND...",
    description="""examples:
  pybox exec web ls /                    run a command in the running container web
  pybox exec -it web sh                  a shell in it
  pybox exec -u nobody -w /tmp web id""")


def main(g, argv):
    """The process's own status; else docker's: 125 when pybox fails (no such container, a bad
    flag), 126 when the command cannot be invoked (or -u names no user), 127 when not found."""
    from pybox.errors import PyboxError
    from pybox.runtime.commands.exec import runc_exec
    try:
        return runc_exec(g, to_runc(g, argv))
    except (PyboxError, OSError) as err:
        from pybox.engine.failure import report
        return report(g, "exec", err)


def to_runc(g, argv):
    from pybox.engine.each import one
    from pybox.engine.lifecycle import exec_user, reachable_root
    from pybox.engine.options import expand_short
    _, v = parser.parse(expand_short(parser, argv))
    if not v["args"]:
        from pybox.errors import PyboxError
        raise PyboxError("exec: give a command to run in the container")
    _, box = one(v["container"])
    g.root = reachable_root(g.root, box)  # the --root the container was created under
    out = ["--tty"] if v["tty"] else []
    out += ["--detach"] if v["detach"] else []
    for entry in v["env"]:
        out += ["--env", entry]
    if v["workdir"]:
        out += ["--cwd", v["workdir"]]
    if v["user"]:
        out += ["--user", exec_user(g.root, box, v["user"])]
    if v["privileged"]:  # docker's and podman's: every capability, whatever the container has
        from pybox.engine.bundle import all_cap_names
        for name in all_cap_names():
            out += ["--cap", name]
    return out + [box.id, *v["args"]]
