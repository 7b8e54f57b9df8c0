"""`pybox`: the docker-style command line (images to running containers).

Only docker's and podman's commands, and `pybox runtime COMMAND ...`, which reaches the OCI
runtime's commands (pybox-runc's) for people with bundles. pybox.command has the shared driver.
"""

import os
import sys

from pybox.command import exit_fast, run_main

COMMANDS = {
    "run": "pybox.engine.commands.run",
    "create": "pybox.engine.commands.create",
    "ps": "pybox.engine.commands.ps",
    "exec": "pybox.engine.commands.exec",
    "start": "pybox.engine.commands.start",
    "stop": "pybox.engine.commands.stop",
    "restart": "pybox.engine.commands.restart",
    "kill": "pybox.engine.commands.kill",
    "rm": "pybox.engine.commands.rm",
    "pause": "pybox.engine.commands.pause",
    "unpause": "pybox.engine.commands.pause",
    "logs": "pybox.engine.commands.logs",
    "inspect": "pybox.engine.commands.inspect",
    "wait": "pybox.engine.commands.wait",
    "top": "pybox.engine.commands.top",
    "stats": "pybox.engine.commands.stats",
    "prune": "pybox.engine.commands.prune",
    "cp": "pybox.engine.commands.cp",
    "port": "pybox.engine.commands.port",
    "rename": "pybox.engine.commands.rename",
    "attach": "pybox.engine.commands.attach",
    "events": "pybox.engine.commands.events",
    "version": "pybox.engine.commands.version",
    "info": "pybox.engine.commands.info",
    # docker's management groups: `container ls`, `system df`... (and image, below)
    "container": "pybox.engine.commands.group",
    "system": "pybox.engine.commands.group",
    "system-df": "pybox.engine.commands.system",  # reached as `system df`
    "system-prune": "pybox.engine.commands.system",  # reached as `system prune`
    "system-migrate": "pybox.engine.commands.migrate",  # reached as `system migrate`
    "cleanup": "pybox.engine.commands.cleanup",  # conmon's exit command; not for people
    # Images, with docker's and podman's names.
    "pull": "pybox.images.cli",
    "images": "pybox.images.cli",
    "rmi": "pybox.images.cli",
    "image": "pybox.images.cli",
    "import": "pybox.images.cli",
    "push": "pybox.images.cli",
    # Tools for people who write seccomp profiles, and for people who measure density.
    "seccomp": "pybox.seccomp.cli",
    "bench": "pybox.engine.commands.bench",
    "completion": "pybox.engine.commands.completion",
    # The OCI runtime's own commands, as pybox-runc has them.
    "runtime": "pybox.engine.commands.runtime",
}

HELP = """usage: pybox [global options] COMMAND [options] [arguments]

pybox runs containers from images as docker and podman do. Its OCI runtime, for podman,
containerd, CRI-O and Kubernetes, is `pybox-runc` (runc's command line).

global options:
  --root DIR             where the runtime keeps container state (default /run/pybox)
  --log FILE             also write log lines to FILE
  --log-format FORMAT    text or json (default text)
  --debug                log the command line, its exit status and its duration
  --version, -v          print the version
  --help, -h             show this help

containers (also as `pybox container ls|run|rm|...`):
  run IMAGE [CMD]        create and start a container from an image
  create IMAGE [CMD]     create one to start later
  attach CTR             connect to its terminal (detach: Ctrl-P Ctrl-Q)
  cp CTR:SRC DEST|-      copy out of it         cp SRC|- CTR:DEST   copy into it
  port CTR               its published ports    rename CTR NAME     name it again
  ps [-a]                list containers        logs CTR       print a container's output
  exec CTR CMD           run a command in it    stop|kill CTR  stop it (TERM, then KILL)
  start|restart CTR      start it again         rm CTR         remove it
  pause|unpause CTR      freeze and thaw it     inspect CTR    show its details
  top|stats|wait CTR     processes, usage, exit status         prune   remove stopped ones

pybox itself:
  version                pybox's version        info    host, cgroups, runtime, store, counts
  events [--since T]     create/start/die/destroy, as they happen
  system df|prune        disk use; remove stopped containers and unused images
  system migrate         stop containers and an ordinary user's pause process (podman's)

images:
  pull|push REF          images [-q]            rmi REF        image inspect|prune
  import FILE|DIR|- NAME

seccomp profiles:
  seccomp compile PROFILE -o FILE.bpf    seccomp explain PROFILE SYSCALL [ARGS]

benchmarks (pybox against runc, crun, runsc):
  bench density [--count N] [--runtime R]...    bench lifecycle [-n N] [--runtime R]...

shell completion:  source <(pybox completion bash)    pybox completion zsh > ~/.zfunc/_pybox

the OCI runtime, for people with bundles:
  runtime COMMAND ...    pybox-runc's commands: spec create start run state list kill delete
                         exec ps pause resume update events features

`pybox COMMAND --help` shows a command's options."""

RUNTIME_ONLY = {"spec", "state", "list", "delete", "resume", "features", "update"}


def misdirected(word):
    if word in RUNTIME_ONLY:
        return (f"{word!r} is an OCI runtime command: use `pybox-runc {word}` "
                f"or `pybox runtime {word}`")
    return None


# An ordinary user's commands run in the user's namespaces (pybox.engine.rootless), but these.
OUTSIDE = {None, "--help", "help", "--version", "version", "completion", "seccomp", "runtime", "bench",
           "system-migrate"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from pybox.runtime.cli import prepare
    return run_main(argv, "pybox", COMMANDS, HELP, misdirected, runc=False, prepare=_prepare(prepare))


def _prepare(prepare):
    def both(g, argv):
        if os.geteuid() != 0 and _command(g, argv) not in OUTSIDE:
            from pybox.engine import rootless
            rootless.enter()  # before any thread starts: setns to a user namespace needs one
        prepare(g, argv)
    return both


def _command(g, argv):
    """The command word, a group's included (`system migrate` is system-migrate)."""
    if g.command in ("system", "container") and argv and not argv[0].startswith("-"):
        return f"{g.command}-{argv[0]}" if g.command == "system" else argv[0]
    return g.command


def run_and_exit():
    exit_fast(main())
