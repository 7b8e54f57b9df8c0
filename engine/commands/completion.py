"""pybox completion bash|zsh: a shell completion script for commands, options, containers, images.

The script asks `pybox completion --complete CWORD WORDS...` at each TAB (as docker's cobra
scripts ask `docker __complete`), so what it offers is always this pybox's commands and options
and the containers and images that exist now.
"""

import sys

from pybox.args import Parser

parser = Parser("completion", [
    "--complete = # (used by the scripts) the index of the word being completed, then the words",
], optional=["shell"], rest="words", usage="completion bash|zsh", description="""examples:
  source <(pybox completion bash)               in this shell, or in ~/.bashrc
  pybox completion zsh > "${fpath[1]}/_pybox"     zsh: a file named _pybox on $fpath""")

BASH = r"""# bash completion for pybox: source <(pybox completion bash)
_pybox() {
    local IFS=$'\n'
    COMPREPLY=($(pybox completion --complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null))
}
complete -o default -F _pybox pybox
"""

ZSH = r"""#compdef pybox
# zsh completion for pybox: pybox completion zsh > "${fpath[1]}/_pybox"
_pybox() {
    local -a items
    items=("${(@f)$(pybox completion --complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)}")
    items=(${items:#})
    if (( ${#items} )); then
        compadd -- "${items[@]}"
    else
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _pybox "$@"
else
    compdef _pybox pybox
fi
"""

GLOBAL_OPTIONS = ["--root", "--log", "--log-format", "--debug", "--version", "--help"]
GLOBAL_VALUED = {"--root", "--log", "--log-format"}
CONTAINER_COMMANDS = {"exec", "start", "stop", "restart", "kill", "rm", "pause", "unpause", "logs", "inspect",
                      "wait", "top", "stats", "attach", "port", "rename", "cp"}
IMAGE_COMMANDS = {"run", "rmi", "push", "create"}
SUBCOMMANDS = {"seccomp": ["compile", "explain"], "bench": ["density", "lifecycle"]}
HIDDEN = {"cleanup"}


def main(g, argv):
    _, v = parser.parse(argv)
    if v["complete"] is not None:
        try:
            cword = int(v["complete"])
        except ValueError:
            return 1
        for item in complete(g, v["words"], cword):  # the words start with `pybox`
            print(item)
        return 0
    if v["shell"] not in ("bash", "zsh"):
        from pybox.errors import PyboxError
        raise PyboxError("completion: give bash or zsh (usage: pybox completion bash|zsh)")
    sys.stdout.write(BASH if v["shell"] == "bash" else ZSH)
    return 0


def complete(g, words, cword):
    """What may stand at words[cword] (words[0] is `pybox`)."""
    from pybox.engine.cli import COMMANDS
    current = words[cword] if cword < len(words) else ""
    i = 1
    while i < len(words) and i < cword and words[i].startswith("-"):
        i += 1 + (words[i] in GLOBAL_VALUED)
    if i >= cword:
        if current.startswith("-"):
            return _starting(GLOBAL_OPTIONS, current)
        return _starting(sorted(c for c in COMMANDS if c not in HIDDEN), current)
    command = words[i]
    if command not in COMMANDS:
        return []
    sub = None
    subs = _subcommands(g, command)
    if subs:
        if cword == i + 1:
            return _starting(subs, current)
        sub = words[i + 1]
    options = _options(g, command, sub)
    previous = words[cword - 1]
    if previous.startswith("-") and "=" not in previous and options.get(previous):
        return []  # an option's value: the shell's own (file) completion
    if current.startswith("-"):
        return _starting(sorted(options), current)
    if command in CONTAINER_COMMANDS:
        return _starting(_containers(), current)
    if command in IMAGE_COMMANDS or (command == "image" and sub in ("inspect", "rm", "push")):
        if not _has_positional(words[i + 1 + bool(sub):cword], options):
            return _starting(_images(), current)
    return []


def _starting(items, prefix):
    return [item for item in items if item.startswith(prefix)]


def _subcommands(g, command):
    if command == "image":
        from pybox.images.cli import IMAGE_COMMANDS as subs
        return sorted(subs)
    if command == "runtime":
        from pybox.runtime.cli import COMMANDS as subs
        return sorted(subs)
    return SUBCOMMANDS.get(command, [])


def _options(g, command, sub):
    """{option name: takes a value}, read from the command's own --help."""
    import re
    text = _help(g, command, sub)
    options = {}
    lines = text.splitlines()
    if "options:" in lines:
        for line in lines[lines.index("options:") + 1:]:
            match = re.match(r"^  (--?[\w-]+(?:, --?[\w-]+)*)( VALUE)?", line)
            if match:
                for name in match.group(1).split(", "):
                    options[name] = bool(match.group(2))
    options.setdefault("--help", False)
    return options


def _help(g, command, sub):
    import importlib
    import io
    from contextlib import redirect_stdout
    from pybox.args import HelpRequested
    from pybox.command import Globals
    from pybox.engine.cli import COMMANDS
    if command == "runtime" and sub:
        from pybox.runtime.cli import COMMANDS as runtime_commands
        module, command, sub = runtime_commands.get(sub), sub, None
        if module is None:
            return ""
    else:
        module = COMMANDS[command]
    inner = Globals()
    inner.root, inner.command = g.root, command
    try:
        with redirect_stdout(io.StringIO()) as out:
            importlib.import_module(module).main(inner, [sub, "--help"] if sub else ["--help"])
    except HelpRequested as text:
        return str(text)
    except Exception:  # a command that cannot show its help offers nothing
        return ""
    return out.getvalue()


def _containers():
    try:
        from pybox.engine.containers import all_boxes
        from pybox.engine.lifecycle import open_store
        boxes = all_boxes(open_store())
    except Exception:  # no store yet, or not readable: nothing to offer
        return []
    return sorted({box.name for box in boxes})


def _images():
    try:
        from pybox.images.store import Store
        images = Store().images()
    except Exception:
        return []
    names = set()
    for image in images:
        for name in image.names:
            names.add(name)
            short = name.removeprefix("docker.io/library/")
            names.add(short)
            if short.endswith(":latest"):
                names.add(short[:-len(":latest")])
    return sorted(names)


def _has_positional(words, options):
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = options.get(word.partition("=")[0], False) and "=" not in word
        else:
            return True
    return False
