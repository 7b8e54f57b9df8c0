"""`pybox`: global options, the command table and the one place errors are printed.

Commands are imported on dispatch (a name → module table), so `pybox state` pays only for what
`state` needs. Each command module has main(g, argv) -> exit status, where g is the Globals.
"""

import os
import sys

from pybox.errors import PyboxError

COMMANDS = {
    # The OCI runtime contract (runc's commands and flags).
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
    "unpause": "pybox.runtime.commands.resume",  # docker's name for resume
    "features": "pybox.runtime.commands.features",
    "update": "pybox.runtime.commands.update",
    "events": "pybox.runtime.commands.events",
    # docker's and podman's container commands (run, ps, exec, kill and start above serve both).
    "rm": "pybox.runtime.commands.rm",
    "stop": "pybox.runtime.commands.stop",
    "restart": "pybox.runtime.commands.restart",
    "logs": "pybox.runtime.commands.logs",
    "inspect": "pybox.runtime.commands.inspect",
    "wait": "pybox.runtime.commands.wait",
    "top": "pybox.runtime.commands.top",
    "stats": "pybox.runtime.commands.stats",
    "prune": "pybox.runtime.commands.prune",
    "cleanup": "pybox.runtime.commands.cleanup",
    # Tools for people who write seccomp profiles.
    "seccomp": "pybox.seccomp.cli",
    # Images, with docker's and podman's names.
    "pull": "pybox.images.cli",
    "images": "pybox.images.cli",
    "rmi": "pybox.images.cli",
    "image": "pybox.images.cli",
    "import": "pybox.images.cli",
    "push": "pybox.images.cli",
}

GLOBAL_HELP = """usage: pybox [global options] COMMAND [options] [arguments]

pybox is an OCI container runtime. It runs containers from OCI bundles exactly as runc does,
so podman and containerd can use it in runc's place, and runs images as docker and podman do.

global options:
  --root DIR             where container state lives (default /run/pybox)
  --log FILE             also write log lines to FILE
  --log-format FORMAT    text or json (default text)
  --debug                log debug messages
  --systemd-cgroup       use the systemd cgroup driver
  --version, -v          print the version
  --help, -h             show this help

containers from images (docker's and podman's names):
  run IMAGE [CMD]        create and start a container from an image
  ps [-a]                list containers        logs CTR       print a container's output
  exec CTR CMD           run a command in it    stop|kill CTR  stop it (TERM, then KILL)
  start|restart CTR      start it again         rm CTR         remove it
  pause|unpause CTR      freeze and thaw it     inspect CTR    show its details
  top|stats|wait CTR     processes, usage, exit status         prune   remove stopped ones

images:
  pull|push REF          images [-q]            rmi REF        image inspect|prune
  import FILE|DIR|- NAME

the OCI runtime (runc's commands, for podman, containerd and people with bundles):
  spec  create  start  run  state  list  kill  delete  exec  ps  pause  resume  update  events
  features

seccomp profiles:
  seccomp compile PROFILE -o FILE.bpf    seccomp explain PROFILE SYSCALL [ARGS]

`pybox COMMAND --help` shows a command's options."""


class Globals:
    __slots__ = ("root", "log", "log_format", "debug", "systemd_cgroup", "command")

    def __init__(self):
        self.root = "/run/pybox"
        self.log = None
        self.log_format = "text"
        self.debug = False
        self.systemd_cgroup = False
        self.command = None


_VALUED = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_SWITCHES = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}
_IGNORED = {"--criu", "--rootless"}  # accepted for runc compatibility; nothing to do


def parse_globals(argv):
    g = Globals()
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name.startswith("-") and not name.startswith("--") and len(name) > 2:
            name = "-" + name  # runc accepts -root as --root
        i += 1
        if name in _VALUED or name in _IGNORED:
            if not eq:
                if i >= len(argv):
                    raise PyboxError(f"option {name} needs a value")
                value = argv[i]
                i += 1
            if name in _VALUED:
                setattr(g, _VALUED[name], value)
        elif name in _SWITCHES:
            setattr(g, _SWITCHES[name], value != "false")
        elif name in ("--version", "-v"):
            g.command = "--version"
            return g, []
        elif name in ("--help", "-h"):
            g.command = "--help"
            return g, []
        else:
            raise PyboxError(f"unknown global option {name}")
    if g.log_format not in ("text", "json"):
        raise PyboxError(f"--log-format must be text or json, not {g.log_format!r}")
    if i < len(argv):
        g.command = argv[i]
        i += 1
    return g, argv[i:]


def version_text():
    from pybox import OCI_VERSION, __version__
    return f"pybox version {__version__}\nspec: {OCI_VERSION}\npython: {sys.version.split()[0]}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    g = None
    try:
        g, rest = parse_globals(argv)
        if g.command == "--version":
            print(version_text())
            return 0
        if g.command in (None, "--help", "help"):
            print(GLOBAL_HELP)
            return 0 if g.command else 1
        if g.log:
            from pybox import log
            log.check_writable(g)
        module = COMMANDS.get(g.command)
        if module is None:
            raise PyboxError(f"unknown command {g.command!r} (see pybox --help)")
        return _dispatch(module, g, rest)
    except PyboxError as err:
        return _fail(g, str(err))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


# Commands that move a process into a cgroup: start paying the kernel's first-migration wait
# now, while Python loads the command's code (pybox.cgroups.warmup).
_MIGRATING = {"create", "run", "exec"}


def _dispatch(module, g, rest):
    if g.command in _MIGRATING and "--help" not in rest and "-h" not in rest:
        from pybox.cgroups import warmup
        warmup.start()
    if g.debug or g.log:
        return _run_logged(module, g, rest)
    return _run(module, g, rest)


def _run(module, g, rest):
    from pybox.args import HelpRequested
    try:
        __import__(module)  # importlib itself costs 1.5 ms to import
        return sys.modules[module].main(g, rest) or 0
    except HelpRequested as help_text:
        print(help_text)
        return 0
    except OSError as err:
        # An OSError that no step wrapped: still one line, naming what failed.
        where = f" {err.filename}" if err.filename else ""
        return _fail(g, f"{g.command}{where}: {err.strerror or err}")


def _run_logged(module, g, rest):
    """With --log or --debug, code that is not handed g logs too; --debug adds the command line,
    its exit status and its duration."""
    import time
    from pybox import log
    log.configure(g)
    log.debug(g, "command: " + " ".join([g.command, *rest]))
    started = time.monotonic()
    try:
        status = _run(module, g, rest)
    except PyboxError as err:
        status = _fail(g, str(err))
    log.debug(g, f"{g.command}: exit status {status} after {(time.monotonic() - started) * 1000:.1f} ms")
    return status


def _fail(g, message):
    from pybox import log
    log.error(g, message)
    return 1


def run_and_exit():
    """For the launcher: skip the interpreter's teardown (a few ms on every command)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)
