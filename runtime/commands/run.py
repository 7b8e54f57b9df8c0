"""pybox run [--bundle DIR] [--detach] [--keep] ... ID: create and start; in the foreground, wait.

`pybox run [options] IMAGE [CMD...]` is docker's run (pybox.engine); runc's form is
recognised by its own flags, or by a single word that names no image next to an OCI
./config.json (is_runc_form has the whole rule).

In the foreground pybox stays the container's parent (a child subreaper), forwards signals to its
init, proxies the terminal when process.terminal is set, exits with the container's status
(128+N when killed by signal N) and deletes it unless --keep.
"""

import os

from pybox.errors import PyboxError
from pybox.args import Parser
from pybox.runtime.commands.create import CREATE_OPTIONS, options_from

parser = Parser("run", CREATE_OPTIONS + ["--detach -d", "--keep"], positionals=["id"],
                usage="run [options] <container-id>")

RUNC_ONLY = {"--bundle", "-b", "--keep", "--pid-file", "--console-socket", "--no-pivot",
             "--preserve-fds", "--no-new-keyring", "--notify-socket"}


def main(g, argv):
    if not is_runc_form(argv):
        from pybox.engine.run import main as docker_run
        return docker_run(g, argv)
    return runc_run(g, argv)


def is_runc_form(argv):
    """runc's `run [-d] ID` (bundle: the current directory) or docker's `run [options] IMAGE`.

    runc's when a flag only runc's run has is given (--bundle, --pid-file, ...). Otherwise
    docker's when any flag runc's run lacks is given, or more than one word, or a word that
    cannot be a container id (an image reference with / : @). Left: `run [-d] WORD`, which is
    runc's only when ./config.json is an OCI runtime config (it has ociVersion) and WORD names
    no image in the store: there docker's run would have had to pull an image the user
    never named by tag or registry.
    """
    words = []
    for i, arg in enumerate(argv):
        if not arg.startswith("-") or arg == "-":
            words = argv[i:]
            break
        name = arg.partition("=")[0]
        if name in RUNC_ONLY or "-" + name in RUNC_ONLY:  # runc also takes -bundle
            return True
        if name not in parser.by_name:
            return False  # -it, --rm, --name ...: docker's flags
    if len(words) != 1 or not _may_be_runc_id(words[0]) or not _is_runtime_config("config.json"):
        return False
    from pybox.engine.run import names_image
    return not names_image(words[0])


def _may_be_runc_id(word):
    from pybox.runtime.state import validate_id
    try:
        return bool(validate_id(word))
    except PyboxError:
        return False


def _is_runtime_config(path):
    from pybox import jsonio
    try:
        with open(path, "rb") as f:
            config = jsonio.loads(f.read(16 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "ociVersion" in config


def runc_run(g, argv):
    from pybox import kernel as k
    from pybox.runtime import container
    from pybox.runtime.foreground import console_pair, forward_signals, receive_master, wait_for
    from pybox.runtime.selfexe import protect_create
    from pybox.runtime.spec import load_bundle
    _, v = parser.parse(argv)
    opts = options_from(g, v)
    opts.config = load_bundle(opts.bundle)
    protect_create(opts.config)
    if v["detach"]:
        record = container.create(g.root, v["id"], opts)
        container.start(g.root, v["id"], record)
        return 0
    k.prctl(k.PR_SET_CHILD_SUBREAPER, 1)
    console = console_pair(opts)
    try:
        record = container.create(g.root, v["id"], opts)
    finally:
        if console:
            os.close(console[1])
    pid = record.data["pid"]
    master = receive_master(console[0]) if console else None
    forward_signals(pid)
    try:
        container.start(g.root, v["id"], record)
        status = wait_for(pid, master)
    finally:
        if not v["keep"]:
            container.delete(g.root, v["id"], force=True, record=record)
    return status
