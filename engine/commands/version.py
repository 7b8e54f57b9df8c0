"""pybox version [--format json]: the client's version, as `podman version` shows it."""

from pybox.args import Parser

parser = Parser("version", ["--format -f = # json, or the default text"], usage="version [--format json]",
                description="Show pybox's version, its Python's and the OCI runtime spec it follows.")


def version_fields():
    import os
    import platform
    from pybox import OCI_VERSION, __version__
    return {"Version": __version__, "APIVersion": __version__, "OCIVersion": OCI_VERSION,
            "PythonVersion": platform.python_version(), "Os": os.uname().sysname.lower(),
            "OsArch": f"{os.uname().sysname.lower()}/{go_arch()}"}


def go_arch():
    """The machine as Go (docker, podman, OCI image indexes) names it."""
    import os
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}.get(machine, machine)


def main(g, argv):
    from pybox import jsonio
    from pybox.errors import PyboxError
    _, v = parser.parse(argv)
    fields = version_fields()
    if v["format"] == "json":
        print(jsonio.dumps({"Client": fields}))
    elif v["format"] is None:
        rows = [("Client", "pybox")] + [(label, fields[key]) for label, key in (
            ("Version", "Version"), ("API Version", "APIVersion"), ("OCI Version", "OCIVersion"),
            ("Python Version", "PythonVersion"), ("OS/Arch", "OsArch"))]
        print("\n".join(f"{label + ':':15} {value}" for label, value in rows))
    else:
        raise PyboxError(f"version: --format must be json, not {v['format']!r}")
    return 0
