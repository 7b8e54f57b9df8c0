"""docker run's flags, parsed with the runtime's small parser (click would add 25 ms per run)."""

import os

from pybox.errors import PyboxError
from pybox.args import Parser
from pybox.units import MAX_ID

RUN_OPTIONS = [
    "--detach -d # run in the background and print the container's id",
    "--rm # remove the container when it exits",
    "--name = # the container's name (default: a generated one)",
    "--interactive -i # keep standard input open and pass it to the container",
    "--tty -t # give the container a terminal",
    "--env -e * # set an environment variable: KEY=VALUE, or KEY to pass this shell's value",
    "--env-file * # read KEY=VALUE lines from a file",
    "--volume -v * # bind a host directory: HOST:CONTAINER[:ro]",
    "--tmpfs * # mount a tmpfs: PATH[:OPTIONS]",
    "--workdir -w = # the command's working directory in the container",
    "--user -u = # run as USER[:GROUP] (name or number)",
    "--hostname = # the container's host name",
    "--entrypoint = # replace the image's entrypoint",
    "--network --net = # bridge (default), none, host, or container:NAME",
    "--publish -p * # publish a port: [IP:]HOST:CONTAINER[/tcp|udp]",
    "--dns * # a DNS server for the container's resolv.conf",
    "--add-host * # add NAME:IP to the container's /etc/hosts",
    "--memory -m = # memory limit, e.g. 256m or 1g",
    "--cpus = # CPU limit, in CPUs (e.g. 1.5)",
    "--cpu-shares -c = # relative CPU weight (default 1024)",
    "--pids-limit = # the most processes the container may have",
    "--cap-add * # add a Linux capability (e.g. NET_ADMIN, or ALL)",
    "--cap-drop * # drop a Linux capability (e.g. CHOWN, or ALL)",
    "--privileged # every capability, every device, no seccomp filter",
    "--read-only # mount the root filesystem read-only",
    "--security-opt * # seccomp=PROFILE|unconfined, no-new-privileges, apparmor=, label=",
    "--ulimit * # a resource limit: NAME=SOFT[:HARD], e.g. nofile=1024:2048",
    "--init # run a small init as PID 1 that reaps zombies and forwards signals",
    "--cgroup-parent = # the cgroup to put the container's cgroup under",
    "--stop-signal = # the signal `pybox stop` sends first (default TERM)",
    "--label -l * # set a label on the container: KEY=VALUE",
    "--restart = # no, on-failure[:N], always or unless-stopped (without -d: run returns, restarts go on detached)",
]

run_parser = Parser("run", RUN_OPTIONS, positionals=["image"], rest="command",
                    usage="run [options] IMAGE [COMMAND [ARG...]]", description="""examples:
  pybox run --rm busybox echo hello                   run, print, remove
  pybox run -it --rm busybox sh                       an interactive shell
  pybox run -d --name web -p 8080:80 nginx            in the background, port 8080 published
  pybox run --rm -v /srv/data:/data:ro -e MODE=test busybox ls /data
  pybox run --rm -m 256m --cpus 0.5 busybox sh -c 'echo limited'""")
create_parser = Parser("create", RUN_OPTIONS, positionals=["image"], rest="command",
                       usage="create [options] IMAGE [COMMAND [ARG...]]")


def expand_short(parser, argv):
    """`-it` and `-dit` are -i -t and -d -i -t, up to the first word that is not an option."""
    out = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--" or not arg.startswith("-") or arg == "-":
            out.extend(argv[i - 1:])
            break
        opt = parser.by_name.get(arg.partition("=")[0])
        if opt is None and not arg.startswith("--") and len(arg) > 2:
            letters = [parser.by_name.get("-" + c) for c in arg[1:]]
            if all(o is not None and not o.takes_value for o in letters):
                out.extend("-" + c for c in arg[1:])
                continue
        out.append(arg)
        if opt is not None and opt.takes_value and "=" not in arg and i < len(argv):
            out.append(argv[i])
            i += 1
    return out


def parse_run(argv, command="run"):
    parser = create_parser if command == "create" else run_parser
    _, v = parser.parse(expand_short(parser, argv))
    v["restart"] = parse_restart(v["restart"], v["rm"])
    return v


RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")


def parse_restart(text, rm):
    """--restart POLICY[:N] -> [policy, max retries] (N only for on-failure; 0 is no limit)."""
    name, colon, count = (text or "no").partition(":")
    if name not in RESTART_POLICIES or colon and (name != "on-failure" or not count.isdigit()):
        raise PyboxError(f"--restart {text!r}: expected no, on-failure[:N], always or unless-stopped")
    if rm and name != "no":
        raise PyboxError(f"--restart {text!r} and --rm conflict: a removed container cannot restart")
    return [name, int(count or 0)]


# (uid_t)-1 is no user: setresuid(-1, ...) means "leave unchanged", and a process meant to
# run as it would stay root. MAX_ID is the highest id (pybox.units).


def check_user_text(text, what):
    """USER[:GROUP] as -u or an image's User: a numeric part must be an id, 0..MAX_ID."""
    for part in text.split(":", 1):
        digits = part[1:] if part[:1] in ("-", "+") else part
        if digits.isdigit() and (digits != part or not part.isascii() or int(part) > MAX_ID):
            raise PyboxError(f"{what} {text!r}: user and group ids are 0..{MAX_ID}")


def check_user_ids(user, what):
    """A resolved process.user (its ids may come from the image's /etc/passwd and /etc/group)."""
    ids = [("uid", user.get("uid")), ("gid", user.get("gid"))]
    ids += [("additional gid", gid) for gid in user.get("additionalGids") or []]
    for kind, value in ids:
        if not isinstance(value, int) or not 0 <= value <= MAX_ID:
            raise PyboxError(f"{what}: {kind} {value} is outside 0..{MAX_ID}")


def parse_bytes(text, flag):
    from pybox.units import parse_size
    try:
        value = parse_size(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise PyboxError(f"{flag} {text!r}: expected a size like 256m or 1g")
    return value


def parse_env(v):
    """--env-file lines, then -e: K=V, or K alone taking the host's value (dropped if unset)."""
    entries = []
    for path in v["env_file"]:
        try:
            with open(path) as f:
                entries += [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except OSError as err:
            raise PyboxError(f"--env-file {path}: {err.strerror}") from None
    entries += v["env"]
    env = []
    for entry in entries:
        name, eq, _ = entry.partition("=")
        if not name or "\0" in entry:
            raise PyboxError(f"--env {entry!r}: expected NAME=VALUE")
        if eq:
            env.append(entry)
        elif name in os.environ:
            env.append(f"{name}={os.environ[name]}")
    return env


def parse_volume(text, store):
    """SRC:DST[:ro|rw] -> a bind mount; a SRC that is a bare name is a volume in the store."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/"):
        raise PyboxError(f"--volume {text!r}: expected SRC:/DST[:ro]")
    source, dest = parts[0], parts[1]
    mode = parts[2].split(",") if len(parts) == 3 else []
    if any(m not in ("ro", "rw", "z", "Z") for m in mode):
        raise PyboxError(f"--volume {text!r}: options are ro or rw")
    if source.startswith("/"):
        if not os.path.exists(source):
            raise PyboxError(f"--volume {text!r}: {source} does not exist")
    else:
        from pybox.engine.containers import check_name
        check_name(source)
        source = store.path("volumes", source, "_data")
        os.makedirs(source, 0o755, exist_ok=True)
    options = ["rbind", "ro" if "ro" in mode else "rw"]
    return {"destination": dest, "type": "bind", "source": source, "options": options}


def parse_tmpfs(text):
    dest, _, opts = text.partition(":")
    if not dest.startswith("/"):
        raise PyboxError(f"--tmpfs {text!r}: expected /DST[:OPTIONS]")
    options = ["nosuid", "nodev", "noexec"] + [o for o in opts.split(",") if o]
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}


def parse_ulimit(text):
    name, eq, limits = text.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        soft_value = int(soft)
        hard_value = int(hard) if hard else soft_value
    except ValueError:
        raise PyboxError(f"--ulimit {text!r}: expected NAME=SOFT[:HARD]") from None
    if not eq or not name.isalpha():
        raise PyboxError(f"--ulimit {text!r}: expected NAME=SOFT[:HARD]")
    return {"type": "RLIMIT_" + name.upper(), "soft": soft_value, "hard": hard_value}


def parse_add_host(text):
    name, sep, address = text.partition(":")
    if not sep or not name or not address:
        raise PyboxError(f"--add-host {text!r}: expected HOST:IP")
    import ipaddress
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise PyboxError(f"--add-host {text!r}: {address!r} is not an IP address") from None
    return (name, address)
