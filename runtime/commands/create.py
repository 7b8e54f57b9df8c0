"""pybox-runc create [--bundle DIR] [--pid-file F] [--console-socket S] ... ID"""

from pybox.args import Parser

CREATE_OPTIONS = [
    "--bundle -b = # the bundle directory (config.json and rootfs; default: the current one)",
    "--pid-file = # write the container's init pid to this file",
    "--console-socket = # a unix socket to receive the terminal's master fd (process.terminal)",
    "--no-pivot # use MS_MOVE and chroot instead of pivot_root (a ramfs root)",
    "--no-new-keyring # keep the caller's session keyring",
    "--preserve-fds = # pass this many more fds (from 3) to the container's process",
    "--notify-socket = # the sd_notify socket to bind into the container",
]

parser = Parser("create", CREATE_OPTIONS, positionals=["id"], usage="create [options] <container-id>")


def options_from(g, v):
    from pybox.errors import PyboxError
    from pybox.runtime.container import CreateOptions
    try:
        preserve = int(v["preserve_fds"] or 0)
    except ValueError:
        raise PyboxError(f"--preserve-fds must be a number, not {v['preserve_fds']!r}") from None
    return CreateOptions(bundle=v["bundle"] or ".", pid_file=v["pid_file"],
                         console_socket=v["console_socket"], no_pivot=v["no_pivot"],
                         no_new_keyring=v["no_new_keyring"], preserve_fds=preserve,
                         systemd_cgroup=g.systemd_cgroup, notify_socket=v["notify_socket"])


def main(g, argv):
    from pybox.runtime.container import create
    from pybox.runtime.selfexe import protect_create
    from pybox.runtime.spec import load_bundle
    _, v = parser.parse(argv)
    opts = options_from(g, v)
    opts.config = load_bundle(opts.bundle)
    protect_create(opts.config)
    create(g.root, v["id"], opts)
    return 0
