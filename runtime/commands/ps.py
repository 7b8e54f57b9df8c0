"""pybox ps [--format table|json] ID [ps options]   (runc's: the processes of one container)

docker's form, without an ID: pybox ps [-a] [-q] [--format json]: the containers.
"""

from pybox.errors import PyboxError
from pybox.args import Parser

parser = Parser("ps", ["--format -f ="], positionals=["id"], rest="ps_args",
                usage="ps [--format table|json] <container-id> [ps options]")


docker_parser = Parser("ps", ["--all -a", "--quiet -q", "--format =", "--no-trunc"],
                       usage="ps [-a] [-q] [--format table|json]")


def main(g, argv):
    from pybox.engine.dispatch import words_of
    if not words_of(argv, valued=("--format", "-f")):
        return docker_ps(g, argv)
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


def docker_ps(g, argv):
    from pybox import jsonio
    from pybox.engine.containers import all_boxes
    from pybox.engine.lifecycle import open_store, status_of
    from pybox.engine.options import expand_short
    from pybox.engine.show import ps_row, ps_table
    _, v = docker_parser.parse(expand_short(docker_parser, argv))
    boxes = all_boxes(open_store())
    if not v["all"]:
        boxes = [box for box in boxes if status_of(g.root, box) in ("running", "paused", "unknown")]
    if v["quiet"]:
        if boxes:
            print("\n".join(box.id[:12] if not v["no_trunc"] else box.id for box in boxes))
    elif v["format"] == "json":
        print(jsonio.dumps([ps_row(g.root, box) for box in boxes]))
    elif v["format"] in (None, "table"):
        print(ps_table(g.root, boxes))
    else:
        raise PyboxError(f"ps: --format must be table or json, not {v['format']!r}")
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
