"""pybox exec [options] ID [COMMAND ARGS...] | pybox exec --process FILE ID

docker's form: pybox exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD..., naming the
container by name or id prefix; it is translated to runc's form.
"""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("exec", [
    "--console-socket =", "--cwd =", "--env -e *", "--tty -t", "--user -u =",
    "--additional-gids -g *", "--process -p =", "--detach -d", "--pid-file =", "--process-label =",
    "--apparmor =", "--no-new-privs", "--cap -c *", "--preserve-fds =", "--ignore-paused",
    "--cgroup *",
], positionals=["id"], rest="args", usage="exec [options] <container-id> [command args...]")


docker_parser = Parser("exec", ["--interactive -i", "--tty -t", "--detach -d", "--env -e *",
                                "--user -u =", "--workdir -w =", "--privileged"],
                       positionals=["container"], rest="args",
                       usage="exec [-it] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND...")
RUNC_VALUED = ("--console-socket", "--cwd", "--env", "-e", "--user", "-u", "--additional-gids", "-g",
               "--process", "-p", "--pid-file", "--process-label", "--apparmor", "--cap", "-c",
               "--preserve-fds", "--cgroup")


def main(g, argv):
    if is_docker_form(g, argv):
        from pybox.engine.lifecycle import UserError
        try:
            argv = docker_to_runc(g, argv)
        except UserError as err:  # docker's status when the process cannot be started
            from pybox import log
            log.error(g, f"exec: {err}")
            return 126
    return runc_exec(g, argv)


def is_docker_form(g, argv):
    from pybox.engine.dispatch import is_docker_ref, words_of
    words = words_of(argv, valued=RUNC_VALUED)
    flags = argv[:argv.index(words[0])] if words else argv
    for arg in flags:
        name = arg.partition("=")[0]
        if name in ("-i", "--interactive", "-w", "--workdir") or (
                name[1:2] != "-" and len(name) > 2 and set(name[1:]) <= set("itd")):
            return True
    return bool(words) and is_docker_ref(g.root, words[0])


def docker_to_runc(g, argv):
    from pybox.engine.each import one
    from pybox.engine.lifecycle import exec_user, reachable_root
    from pybox.engine.options import expand_short
    _, v = docker_parser.parse(expand_short(docker_parser, argv))
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


def _check_ids(user, gids):
    """--user UID[:GID] and -g GID: ids, 0..MAX_ID ((uid_t)-1 is no user)."""
    from pybox.engine.options import MAX_ID
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
