"""The image commands' command line (issue 13: click was a second argument parser for one file).

Every command answers --help with its usage and exits 0; a bad option or a missing argument is one
line on stderr naming the command, exit status 1, no traceback; `pybox images` lists without click.
"""

import os
import subprocess
import sys

import pytest

PYBOX = os.path.join(os.path.dirname(sys.executable), "pybox")

COMMANDS = [["pull"], ["images"], ["rmi"], ["import"], ["push"], ["image", "inspect"],
            ["image", "prune"], ["image", "ls"], ["image", "list"], ["image", "rm"],
            ["image", "pull"], ["image", "push"], ["image", "import"]]


def run(tmp_path, *argv):
    env = dict(os.environ, PYBOX_STORAGE=str(tmp_path / "store"))
    return subprocess.run([PYBOX, *argv], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


def one_line_error(result, *words):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_help_and_bad_option(tmp_path, argv):
    shown = run(tmp_path, *argv, "--help")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert shown.stdout.startswith("usage: pybox "), shown.stdout
    one_line_error(run(tmp_path, *argv, "--bogus"), argv[-1], "unknown option --bogus")


def test_image_alone_lists_its_commands(tmp_path):
    shown = run(tmp_path, "image")
    assert shown.returncode == 0
    for sub in ("inspect", "prune", "ls", "rm", "pull", "push", "import"):
        assert f"\n  {sub} " in shown.stdout
    one_line_error(run(tmp_path, "image", "frobnicate"), "unknown command 'frobnicate'")


@pytest.mark.parametrize("argv,words", [
    (["rmi"], ["rmi", "missing argument <refs>"]),
    (["image", "inspect"], ["image inspect", "missing argument <refs>"]),
    (["pull"], ["pull", "missing argument <ref>"]),
    (["import"], ["import", "missing argument <source>"]),
    (["import", "a", "b", "c"], ["import", "unexpected argument 'c'"]),
    (["images", "--format", "yaml"], ["images", "--format takes table or json"]),
    (["push", "--tls-verify=maybe", "x"], ["push", "--tls-verify takes true or false"]),
    (["image", "prune", "--force", "extra"], ["image prune", "unexpected argument 'extra'"]),
])
def test_bad_use_is_one_line(tmp_path, argv, words):
    one_line_error(run(tmp_path, *argv), *words)


def test_options_after_refs_count(tmp_path):
    """docker rmi IMAGE -f: the flag may follow the names; a missing image is still one line."""
    one_line_error(run(tmp_path, "rmi", "nosuch:latest", "-f"), "nosuch")


def test_empty_store_lists_without_click(tmp_path):
    with open(PYBOX) as f:
        interpreter = f.readline()[2:].split()[0]  # the launcher's own: #!PYTHON -IS
    env = dict(os.environ, PYBOX_STORAGE=str(tmp_path / "store"))
    for argv in (["images"], ["images", "-q"], ["images", "--format=json"], ["image", "ls", "--no-trunc"]):
        done = subprocess.run([interpreter, "-IS", "-X", "importtime", PYBOX, *argv], capture_output=True,
                              text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-2000:]
        modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                   if line.startswith("import time:")}
        assert "pybox.images.cli" in modules and "click" not in modules
    assert done.stdout.startswith("REPOSITORY")
