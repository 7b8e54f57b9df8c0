"""pybox.gotemplate against the examples of Go's text/template documentation (their outputs as Go
prints them) and the templates docker users write."""

import pytest

from pybox.errors import PyboxError
from pybox.gotemplate import Map, render, table

# From the "Examples" section of Go's text/template package documentation: each prints "output".
GO_EXAMPLES = [
    ('{{"\\"output\\""}}', '"output"'),
    ('{{`"output"`}}', '"output"'),
    ('{{printf "%q" "output"}}', '"output"'),
    ('{{"output" | printf "%q"}}', '"output"'),
    ('{{printf "%q" (print "out" "put")}}', '"output"'),
    ('{{"put" | printf "%s%s" "out" | printf "%q"}}', '"output"'),
    ('{{"output" | printf "%s" | printf "%q"}}', '"output"'),
    ('{{with "output"}}{{printf "%q" .}}{{end}}', '"output"'),
    ('{{with $x := "output" | printf "%q"}}{{$x}}{{end}}', '"output"'),
    ('{{with $x := "output"}}{{printf "%q" $x}}{{end}}', '"output"'),
    ('{{with $x := "output"}}{{$x | printf "%q"}}{{end}}', '"output"'),
    ("{{23 -}} < {{- 45}}", "23<45"),  # the trim markers' example
]


@pytest.mark.parametrize("template, expected", GO_EXAMPLES)
def test_go_documentation_examples(template, expected):
    assert render(template, None) == expected


DOC = {"Name": "/web", "State": {"Status": "exited", "ExitCode": 3, "Running": False, "Pid": 0},
       "Mounts": [{"Destination": "/a", "RW": True}, {"Destination": "/b", "RW": False}],
       "Config": {"Labels": Map({"app": "web", "tier": "front"}), "Env": ["A=1", "B=2"], "Cmd": None}}


@pytest.mark.parametrize("template, expected", [
    ("{{.State.Status}} {{.State.ExitCode}}", "exited 3"),
    ("{{json .State}}", '{"Status":"exited","ExitCode":3,"Running":false,"Pid":0}'),
    ("{{range .Mounts}}{{.Destination}} {{end}}", "/a /b "),
    ("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}},{{end}}", "0:/a,1:/b,"),
    ('{{index .Config.Labels "app"}}', "web"),
    ('{{index .Config.Labels "nope"}}|', "|"),
    ("{{.Config.Labels.nope}}", "<no value>"),   # a map's missing key, as Go prints it
    ("{{.Config.Labels}}", "map[app:web tier:front]"),
    ("{{.Config.Env}} {{.Config.Cmd}}", "[A=1 B=2] <no value>"),
    ("{{if .State.Running}}up{{else if eq .State.ExitCode 3}}three{{else}}down{{end}}", "three"),
    ("{{range .Config.Cmd}}x{{else}}none{{end}}", "none"),
    ("{{range .Mounts}}{{if .RW}}{{continue}}{{end}}{{.Destination}}{{end}}", "/b"),
    ("{{range .Mounts}}{{.Destination}}{{break}}{{end}}", "/a"),
    ('{{or .State.Pid "none"}} {{and .State.Running "x"}}', "none false"),
    ("{{len .Mounts}} {{not .State.Running}}", "2 true"),
    ('{{join .Config.Env ","}} {{upper .Name}} {{lower "AB"}}', "A=1,B=2 /WEB ab"),
    ('{{printf "%5d|%-4s|%v" .State.ExitCode "ab" .State.Running}}', "    3|ab  |false"),
    ("{{/* a comment */}}{{.Name}}", "/web"),
    ("{{$n := .Name}}{{with .State}}{{$n}} {{.Status}}{{end}}", "/web exited"),
    ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
    ("{{(index .Mounts 1).Destination}}", "/b"),
    ("{{slice .Name 1 3}}", "we"),
    ("{{lt 1 2}} {{ge 2 2}} {{ne .Name \"/db\"}}", "true true true"),
])
def test_docker_templates(template, expected):
    assert render(template, DOC) == expected


@pytest.mark.parametrize("template, words", [
    ("{{.State.Status", "unclosed action"),
    ("{{.Nope}}", "can't evaluate field Nope"),
    ("{{nofunc 1}}", 'function "nofunc" not defined'),
    ("{{if .Name}}x", "missing {{end}}"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{index .Mounts 5}}", "index out of range"),
    ("{{$y}}", "undefined variable $y"),
    ('{{"open}}', "unclosed action"),
    ("{{define \"x\"}}{{end}}", "not supported"),
])
def test_errors_are_one_line(template, words):
    with pytest.raises(PyboxError) as err:
        render(template, DOC)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_table_heads_columns_and_aligns_as_docker():
    rows = [Map({"ID": "abc", "Names": "n1", "Label": lambda k: "v"}),
            Map({"ID": "0123456789abcdef", "Names": "n2", "Label": lambda k: ""})]
    text = table('table {{.ID}}\\t{{.Names}}\\t{{.Label "app"}}', rows, {"ID": "CONTAINER ID"})
    assert text.splitlines() == [
        "CONTAINER ID       NAMES     LABEL",
        "abc                n1        v",
        "0123456789abcdef   n2",
    ]
