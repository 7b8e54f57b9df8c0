"""pybox ps [--format table|json] ID [ps options]"""

from pybox.errors import PyboxError
from pybox.runtime.args import Parser

parser = Parser("ps", ["--format -f ="], positionals=["id"], rest="ps_args",
                usage="ps [--format table|json] <container-id> [ps options]")


def main(g, argv):
    from pybox import jsonio
    from pybox.runtime.container import pids
    _, v = parser.parse(argv)
    fmt = v["format"] or "table"
    if fmt not in ("table", "json"):
        raise PyboxError(f"ps: --format must be table or json, not {fmt!r}")
    found = sorted(pids(g.root, v["id"]))
    if fmt == "json":
        print(jsonio.dumps(found))
        return 0
    return _table(found, v["ps_args"] or ["-ef"])


def _table(found, ps_args):
    """Like runc: run the host's ps and keep the header and the container's lines."""
    import subprocess
    try:
        out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise PyboxError(f"ps: running ps failed: {err}") from None
    lines = out.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise PyboxError("ps: the ps output has no PID column")
    column = header.index("PID")
    wanted = set(found)
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)
    return 0
