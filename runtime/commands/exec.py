"""pybox-runc exec [options] ID [COMMAND ARGS...] | pybox-runc exec --process FILE ID

pybox's docker-style exec (pybox.engine.commands.exec) turns its flags into these.
"""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("exec", [
    "--console-socket = # a unix socket to receive the terminal's master fd (with --tty)",
    "--cwd = # the process's working directory",
    "--env -e * # set an environment variable: KEY=VALUE",
    "--tty -t # give the process a terminal",
    "--user -u = # run as UID[:GID]",
    "--additional-gids -g * # an additional group id",
    "--process -p = # the process as OCI JSON (config.json's process), instead of the arguments",
    "--detach -d # return once the process has started",
    "--pid-file = # write the process's pid to this file",
    "--process-label = # the SELinux label of the process",
    "--apparmor = # the AppArmor profile of the process",
    "--no-new-privs # set no_new_privs for the process",
    "--cap -c * # a capability to add to the process",
    "--preserve-fds = # pass this many more fds (from 3) to the process",
    "--ignore-paused # exec even if the container is paused",
    "--cgroup * # run in this sub-cgroup: PATH or CONTROLLER:PATH",
], positionals=["id"], rest="args", usage="exec [options] <container-id> [command args...]")


def main(g, argv):
    return runc_exec(g, argv)


def _check_ids(user, gids):
    """--user UID[:GID] and -g GID: ids, 0..MAX_ID ((uid_t)-1 is no user)."""
    from pybox.units import MAX_ID
    for text in user.split(":") + list(gids):
        if text and not (text.isdigit() and text.isascii() and int(text) <= MAX_ID):
            raise PyboxError(f"exec: --user {user!r} / --additional-gids: ids are 0..{MAX_ID}, "
                             f"not {text!r}")


def runc_exec(g, argv):
    from pybox.runtime.exec import ExecOptions, build_process, exec_process, load_process_file
    from pybox.runtime.state import open_existing
    _, v = parser.parse(argv)
    _check_ids(v["user"] or "", v["additional_gids"])
    if v["apparmor"] or v["process_label"]:
        raise PyboxError("exec: AppArmor and SELinux labels are not supported by pybox")
    if v["process"]:
        process = load_process_file(v["process"])
    elif v["args"]:
        process = build_process(open_existing(g.root, v["id"]), {
            "args": v["args"], "tty": v["tty"], "env": v["env"], "cwd": v["cwd"], "user": v["user"],
            "additional_gids": v["additional_gids"], "caps": v["cap"], "no_new_privs": v["no_new_privs"]})
    else:
        raise PyboxError("exec: give a command or --process FILE")
    try:
        preserve = int(v["preserve_fds"] or 0)
    except ValueError:
        raise PyboxError("exec: --preserve-fds must be a number") from None
    opts = ExecOptions(detach=v["detach"], pid_file=v["pid_file"], console_socket=v["console_socket"],
                       preserve_fds=preserve, ignore_paused=v["ignore_paused"], cgroups=v["cgroup"])
    return exec_process(g.root, v["id"], process, opts)
