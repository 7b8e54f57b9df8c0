import pytest

from pybox.errors import PyboxError
from pybox.args import Parser
from pybox.command import parse_globals


def make():
    return Parser("create", ["--bundle -b =", "--env -e *", "--detach -d"], positionals=["id"])


def test_value_forms_are_equal():
    p = make()
    assert p.parse(["--bundle", "B", "x"])[1]["bundle"] == "B"
    assert p.parse(["--bundle=B", "x"])[1]["bundle"] == "B"
    assert p.parse(["-b", "B", "x"])[1]["bundle"] == "B"
    assert p.parse(["-bundle", "B", "x"])[1]["bundle"] == "B"


def test_repeat_and_switch():
    _, v = make().parse(["-e", "A=1", "--env=B=2", "-d", "x"])
    assert v["env"] == ["A=1", "B=2"] and v["detach"] is True and v["id"] == "x"


def test_unknown_option_is_one_clear_error():
    with pytest.raises(PyboxError, match="unknown option --nope"):
        make().parse(["--nope", "x"])


def test_missing_positional():
    with pytest.raises(PyboxError, match="missing argument <id>"):
        make().parse([])


def test_rest_keeps_container_args():
    p = Parser("exec", ["--tty -t"], positionals=["id"], rest="args")
    _, v = p.parse(["-t", "c1", "ls", "-l", "--color"])
    assert v["id"] == "c1" and v["args"] == ["ls", "-l", "--color"]


def test_globals():
    g, rest = parse_globals(["--root", "/r", "--log=/l", "--log-format", "json", "kill", "c", "9"])
    assert (g.root, g.log, g.log_format, g.command, rest) == ("/r", "/l", "json", "kill", ["c", "9"])


def test_optional_positional_and_required_rest():
    p = Parser("import", [], positionals=["source"], optional=["name"])
    assert p.parse(["a"])[1]["name"] is None and p.parse(["a", "b"])[1]["name"] == "b"
    with pytest.raises(PyboxError, match="unexpected argument 'c'"):
        p.parse(["a", "b", "c"])
    rmi = Parser("rmi", ["--force -f"], rest="refs", rest_required=True, usage="rmi IMAGE...")
    _, v = rmi.parse(["x", "-f", "y"])  # our own words: options may follow them
    assert v["refs"] == ["x", "y"] and v["force"] is True
    with pytest.raises(PyboxError, match="missing argument <refs>"):
        rmi.parse(["-f"])


def test_help_shows_description_and_option_help():
    from pybox.args import HelpRequested
    p = Parser("images", ["--quiet -q # print only image ids"], usage="images [-q]", description="List images.")
    with pytest.raises(HelpRequested) as shown:
        p.parse(["--help"])
    text = str(shown.value)
    assert text.startswith("usage: pybox images [-q]\n\nList images.\n") and "print only image ids" in text
