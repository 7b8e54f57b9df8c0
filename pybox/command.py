"""What both command lines share: global options, dispatch on a name -> module table, one error line.

pybox has two front ends. `pybox-runc` (pybox.runtime.cli) speaks only runc's command line, for
podman, containerd, CRI-O and people with OCI bundles; `pybox` (pybox.engine.cli) speaks only the
docker-style commands. Each gives run_main() its table; commands are imported on dispatch, so a
command pays only for the modules it needs. A command module has main(g, argv) -> exit status, g
being the Globals.
"""

import os
import sys

from pybox.errors import PyboxError
from pybox import userns


class Globals:
    __slots__ = ("root", "log", "log_format", "debug", "systemd_cgroup", "command", "program")

    def __init__(self, program="pybox"):
        self.root = "/run/pybox" if userns.rootless_uid() is None else _user_root()
        self.log = None
        self.log_format = "text"
        self.debug = False
        self.systemd_cgroup = False
        self.command = None
        self.program = program  # the front end's name, for messages


def _user_root():
    """A non-root caller's state directory, as runc uses $XDG_RUNTIME_DIR/runc."""
    return os.path.join(userns.user_runtime_dir(), "pybox")


_VALUED = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_SWITCHES = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}
_IGNORED = {"--criu", "--rootless"}  # runc's; accepted for compatibility, nothing to do


def parse_globals(argv, program="pybox", runc=True):
    """Global options up to the command word. runc=False (pybox's own front end) refuses runc's
    --systemd-cgroup, --criu and --rootless, which configure the runtime only."""
    g = Globals(program)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name.startswith("-") and not name.startswith("--") and len(name) > 2:
            name = "-" + name  # runc accepts -root as --root
        i += 1
        if not runc and (name in _IGNORED or name == "--systemd-cgroup"):
            raise PyboxError(f"{name} is a runtime option: give it to pybox-runc")
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


def version_text(program):
    from pybox import OCI_VERSION, __version__
    return f"{program} version {__version__}\nspec: {OCI_VERSION}\npython: {sys.version.split()[0]}"


def run_main(argv, program, commands, help_text, misdirected=None, runc=True, prepare=None):
    """Parse the globals, dispatch, and turn every PyboxError into one line and status 1.

    misdirected(word) -> message or None: a helpful error for a command of the other front end.
    prepare(g, argv): called before the command's module is imported."""
    g = None
    try:
        g, rest = parse_globals(argv, program, runc)
        if g.command == "--version":
            print(version_text(program))
            return 0
        if g.command in (None, "--help", "help"):
            print(help_text)
            return 0 if g.command else 1
        return dispatch(g, rest, commands, misdirected, prepare)
    except PyboxError as err:
        return fail(g, str(err))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def dispatch(g, rest, commands, misdirected=None, prepare=None):
    if g.log:
        from pybox import log
        log.check_writable(g)
    module = commands.get(g.command)
    if module is None:
        hint = misdirected(g.command) if misdirected else None
        raise PyboxError(hint or f"unknown command {g.command!r} (see {g.program} --help)")
    if prepare is not None:
        prepare(g, rest)
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
        return fail(g, f"{g.command}{where}: {err.strerror or err}")


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
        status = fail(g, str(err))
    log.debug(g, f"{g.command}: exit status {status} after {(time.monotonic() - started) * 1000:.1f} ms")
    return status


def fail(g, message):
    from pybox import log
    log.error(g, message)
    return 1


def exit_fast(code):
    """For the launchers: skip the interpreter's teardown (a few ms on every command)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)
