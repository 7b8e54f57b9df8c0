"""`pybox-runc`: the OCI runtime's command line, runc's commands and flags and nothing else.

This is the binary that podman (conmon), containerd's runc shim, CRI-O and a RuntimeClass name in
runc's place. The docker-style commands are `pybox`'s (pybox.engine.cli); `pybox runtime COMMAND`
reaches these from there. pybox.command has the shared driver.
"""

import sys

from pybox.command import exit_fast, run_main

COMMANDS = {
    "spec": "pybox.runtime.commands.spec",
    "create": "pybox.runtime.commands.create",
    "start": "pybox.runtime.commands.start",
    "run": "pybox.runtime.commands.run",
    "state": "pybox.runtime.commands.state",
    "list": "pybox.runtime.commands.list",
    "kill": "pybox.runtime.commands.kill",
    "delete": "pybox.runtime.commands.delete",
    "exec": "pybox.runtime.commands.exec",
    "ps": "pybox.runtime.commands.ps",
    "pause": "pybox.runtime.commands.pause",
    "resume": "pybox.runtime.commands.resume",
    "features": "pybox.runtime.commands.features",
    "update": "pybox.runtime.commands.update",
    "events": "pybox.runtime.commands.events",
}

HELP = """usage: pybox-runc [global options] COMMAND [options] [arguments]

pybox-runc is pybox's OCI runtime, with runc's command line: podman, containerd, CRI-O and
Kubernetes' RuntimeClass can name it wherever they would name runc. (Images and docker-style
commands: `pybox --help`.)

global options:
  --root DIR             where container state lives (default /run/pybox)
  --log FILE             also write log lines to FILE
  --log-format FORMAT    text or json (default text)
  --debug                log the command line, its exit status and its duration
  --systemd-cgroup       cgroupsPath is systemd's slice:prefix:name (not supported yet: refused)
  --version, -v          print the version
  --help, -h             show this help

commands:
  spec [--rootless]          write a default config.json for a bundle
  create ID                  set a container up from a bundle, its process waiting
  start ID                   run the created container's process
  run ID                     create and start; in the foreground, wait and delete
  state ID                   print the container's state as JSON
  list                       list the containers under --root
  kill ID [SIGNAL]           send a signal (default TERM) to the init, or --all processes
  delete [--force] ID        remove a stopped (or, forced, any) container
  exec ID COMMAND...         run a process in the container (or --process FILE)
  ps ID                      list the container's processes
  pause ID | resume ID       freeze and thaw every process
  update ID                  change the cgroup limits (--memory ... or -r resources.json)
  events [--stats] ID        statistics and OOM notices as JSON lines
  features                   what this runtime supports, as JSON

`pybox-runc COMMAND --help` shows a command's options."""

ENGINE_ONLY = {"rm", "stop", "restart", "logs", "inspect", "wait", "top", "stats", "prune", "pull", "push",
               "images", "rmi", "image", "import", "unpause", "cleanup", "seccomp"}


def misdirected(word):
    if word in ENGINE_ONLY:
        return f"{word!r} is a pybox command, not a runtime one: use `pybox {word}`"
    return None


def prepare(g, argv):
    """Commands that move a process into a cgroup start paying the kernel's first-migration
    wait now, while Python loads the command's code (pybox.cgroups.warmup)."""
    if g.command in ("create", "run", "exec") and "--help" not in argv and "-h" not in argv:
        from pybox.cgroups import warmup
        warmup.start()


def main(argv=None, program="pybox-runc"):
    argv = sys.argv[1:] if argv is None else argv
    return run_main(argv, program, COMMANDS, HELP, misdirected, prepare=prepare)


def run_and_exit():
    exit_fast(main())
