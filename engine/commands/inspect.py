"""pybox inspect CONTAINER...: a JSON array, docker's field names."""

from pybox.args import Parser

parser = Parser("inspect", [
    "--format -f = # a Go template, as docker's: '{{.State.Status}} {{.State.ExitCode}}', '{{json .State}}'",
], rest="containers", usage="inspect [-f TEMPLATE] CONTAINER...", description="""examples:
  pybox inspect web                                    every field, as a JSON array
  pybox inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
  pybox inspect -f '{{range .Mounts}}{{.Destination}} {{end}}' web
  pybox inspect -f '{{index .Config.Labels "app"}}' web""")


def main(g, argv):
    from pybox import jsonio
    from pybox.errors import PyboxError
    from pybox.engine.each import one
    from pybox.engine.show import inspect
    _, v = parser.parse(argv)
    if not v["containers"]:
        raise PyboxError("inspect: give at least one container")
    if v["format"]:
        from pybox.gotemplate import parse
        parse(v["format"])  # a bad template fails before any container is looked at
    documents = [inspect(g.root, one(ref)[1]) for ref in v["containers"]]
    if v["format"]:
        from pybox.gotemplate import render
        for doc in documents:
            print(render(v["format"], doc))
        return 0
    print(jsonio.dumps(documents, indent=4))
    return 0
