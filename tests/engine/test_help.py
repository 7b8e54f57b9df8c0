"""`pybox COMMAND --help` for every command in engine/cli.py's table (and their subcommands): every
option has a one-line description, in one style, and the common commands show examples."""

import re
import subprocess
import sys

import pytest

from pybox.engine.cli import COMMANDS
from pybox.runtime.cli import COMMANDS as RUNTIME_COMMANDS

SUBCOMMANDS = {
    "image": ["inspect", "prune", "ls", "list", "rm", "pull", "push", "import"],
    "seccomp": ["compile", "explain"],
    "bench": ["density", "lifecycle"],
    "runtime": sorted(RUNTIME_COMMANDS),
}
EXAMPLES = ("run", "ps", "exec", "logs", "inspect", "rm", "pull", "images")
NOT_FOR_PEOPLE = {"cleanup"}  # conmon's exit command
# "  --name, -n VALUE   text": names, then the description after at least one space
OPTION = re.compile(r"^  (--?[\w-]+(?:, --?[\w-]+)*)(?: VALUE)?(?: +(\S.*))?$")


def helps():
    for command in sorted(COMMANDS):
        if command in NOT_FOR_PEOPLE:
            continue
        yield [command]
        for sub in SUBCOMMANDS.get(command, []):
            yield [command, sub]


def help_of(words):
    result = subprocess.run([sys.executable, "-c", "from pybox.engine.cli import main; raise SystemExit(main())",
                             *words, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def options_section(text):
    lines = text.splitlines()
    if "options:" not in lines:
        return []
    return [line for line in lines[lines.index("options:") + 1:] if line.startswith("  -")]


@pytest.mark.parametrize("words", list(helps()), ids=" ".join)
def test_every_option_has_a_description(words):
    text = help_of(words)
    assert text.startswith("usage: pybox "), text[:200]
    for line in options_section(text):
        match = OPTION.match(line)
        assert match, f"pybox {' '.join(words)} --help: {line!r} is not in the options' style"
        assert match.group(2), f"pybox {' '.join(words)} --help: {match.group(1)} has no description"


@pytest.mark.parametrize("command", EXAMPLES)
def test_common_commands_show_examples(command):
    text = help_of([command])
    examples = text.split("examples:\n", 1)
    assert len(examples) == 2, f"pybox {command} --help has no examples"
    assert examples[1].splitlines()[0].strip().startswith(f"pybox {command} ")


def test_the_table_is_walked():
    assert {"run", "ps", "image", "runtime"} <= {w[0] for w in helps()}
    assert len(list(helps())) > 40
