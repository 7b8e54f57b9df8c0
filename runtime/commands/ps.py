"""pybox-runc ps [--format table|json] ID [ps options]: the processes of one container."""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("ps", [
    "--format -f = # table (default: ps's output) or json (the pids)",
], positionals=["id"], rest="ps_args",
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
    lines = _host_ps(ps_args).splitlines()
    if not lines:
        raise PyboxError("ps: ps printed nothing")
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


def _host_ps(ps_args):
    """ps's output, through posix_spawn: `subprocess` costs about 12 ms to import."""
    import os
    read_end, write_end = os.pipe()
    try:
        pid = os.posix_spawnp("ps", ["ps", *ps_args], os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)])
    except OSError as err:
        os.close(read_end)
        raise PyboxError(f"ps: running ps failed: {err.strerror}") from None
    finally:
        os.close(write_end)
    chunks = []
    try:
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise PyboxError(f"ps: ps {' '.join(ps_args)} failed (status {os.waitstatus_to_exitcode(status)})")
    return b"".join(chunks).decode(errors="replace")
