"""pybox-runc spec [--bundle DIR] [--rootless]: write a starter config.json."""

import os

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("spec", [
    "--bundle -b = # write config.json into this directory",
    "--rootless # a config for a container run by a user without privileges",
], usage="spec [--bundle DIR] [--rootless]")


def main(g, argv):
    from pybox import jsonio
    from pybox.runtime.defaults import default_spec
    _, v = parser.parse(argv)
    path = os.path.join(v["bundle"] or ".", "config.json")
    if os.path.exists(path):
        raise PyboxError(f"spec: {path} exists; remove it first")
    try:
        with open(path, "x") as f:
            f.write(jsonio.dumps(default_spec(rootless=v["rootless"]), indent=2) + "\n")
    except OSError as err:
        raise PyboxError(f"spec: {path}: {err.strerror}") from None
    return 0
