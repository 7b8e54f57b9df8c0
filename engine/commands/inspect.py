"""pybox inspect CONTAINER...: a JSON array, docker's field names."""

from pybox.args import Parser

parser = Parser("inspect", ["--format -f ="], rest="containers", usage="inspect CONTAINER...")


def main(g, argv):
    from pybox import jsonio
    from pybox.errors import PyboxError
    from pybox.engine.each import one
    from pybox.engine.show import inspect
    _, v = parser.parse(argv)
    if not v["containers"]:
        raise PyboxError("inspect: give at least one container")
    documents = [inspect(g.root, one(ref)[1]) for ref in v["containers"]]
    if v["format"]:
        for doc in documents:
            print(_field(doc, v["format"]))
        return 0
    print(jsonio.dumps(documents, indent=4))
    return 0


def _field(doc, template):
    """The {{.State.Status}} subset of Go templates: one dotted path."""
    from pybox import jsonio
    from pybox.errors import PyboxError
    path = template.strip().removeprefix("{{").removesuffix("}}").strip()
    value = doc
    for key in path.lstrip(".").split("."):
        if not isinstance(value, dict) or key not in value:
            raise PyboxError(f"inspect --format {template!r}: no field {key!r}")
        value = value[key]
    return value if isinstance(value, str) else jsonio.dumps(value)
