"""`pybox seccomp`: tools for people who write seccomp profiles.

    pybox seccomp compile PROFILE -o FILE.bpf     the BPF program pybox would load
    pybox seccomp explain PROFILE SYSCALL [ARGS]  what that program does with one call

PROFILE is an OCI seccomp object, a Docker-format profile, a bundle's config.json, `default`
(Docker's default profile) or, for explain, a compiled .bpf file.
"""

import os
import sys

from pybox.errors import PyboxError
from pybox.args import HelpRequested, Parser

USAGE = "\n".join(
    ["usage: pybox seccomp compile|explain ...", "", "commands:"]
    + ["  " + line.strip() for line in __doc__.split("\n\n")[1].splitlines()]
    + ["", "`pybox seccomp compile --help` and `pybox seccomp explain --help` show the options."])
CAPS = "--capabilities --cap * # capabilities the program runs with (repeat, or CAP,CAP); they decide some rules"
ARCHES = ("x86_64", "x86", "x32")


def main(g, argv):
    if not argv or argv[0] in ("-h", "--help"):
        raise HelpRequested(USAGE)
    sub, rest = argv[0], argv[1:]
    if sub == "compile":
        return compile_command(g, rest)
    if sub == "explain":
        return explain_command(g, rest)
    raise PyboxError(f"seccomp: unknown subcommand {sub!r} (compile or explain)")


def compile_command(g, argv):
    parser = Parser("seccomp compile", [
        "--output -o = # the file to write the BPF program to",
        CAPS,
    ], positionals=["profile"],
                    usage="seccomp compile PROFILE -o FILE.bpf [--capabilities CAP,...]")
    opts, _ = parser.parse(argv)
    if not opts["output"]:
        raise PyboxError("seccomp compile: missing -o FILE.bpf")
    filt = _compile(g, opts["profile"], _caps(opts["capabilities"]))
    _write_atomically(opts["output"], filt.program)
    print(f"{opts['output']}: {len(filt.program) // 8} BPF instructions, seccomp(2) flags {filt.flags:#x}",
          file=sys.stderr)
    return 0


def explain_command(g, argv):
    parser = Parser("seccomp explain", [
        "--arch = # the architecture: x86_64 (default), x86 or x32",
        CAPS,
    ], positionals=["profile", "syscall"], rest="args",
                    usage="seccomp explain PROFILE SYSCALL [ARGS...] [--arch x86_64|x86|x32]")
    opts, _ = parser.parse(_options_first(argv, parser))
    arch = opts["arch"] or "x86_64"
    if arch not in ARCHES:
        raise PyboxError(f"seccomp explain: --arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    program = _program(g, opts["profile"], _caps(opts["capabilities"]))
    print(explain(program, arch, opts["syscall"], [_number(a, "argument") for a in opts["args"]]))
    return 0


def _options_first(argv, parser):
    """The parser stops at the call's arguments; options may come after them (they are numbers)."""
    options, words = [], []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word in ("-h", "--help"):
            return [word]
        opt = parser.by_name.get(word.partition("=")[0]) if word.startswith("-") else None
        if opt is None:
            words.append(word)
            continue
        options.append(word)
        if opt.takes_value and "=" not in word and i < len(argv):
            options.append(argv[i])
            i += 1
    return options + words


def explain(program, arch_name, syscall, args):
    """One line: the call, its number on the arch, and what the program answers."""
    from pybox.seccomp import bpf, libseccomp
    token = libseccomp.arch_token(arch_name)
    nr = _syscall_number(token, syscall)
    # The kernel reports x32 calls as x86_64 calls whose number carries bit 30.
    seen_arch = libseccomp.arch_token("x86_64") if arch_name == "x32" else token
    ret = bpf.run(program, bpf.seccomp_data(seen_arch, nr, args))
    name = libseccomp.syscall_name(token, nr) or f"syscall {nr}"
    shown = ", ".join(hex(a) for a in args)
    return f"{name}({shown}) on {arch_name} [nr {nr}]: {bpf.describe(ret)}{_errno_text(ret)}"


def _syscall_number(token, syscall):
    from pybox.seccomp import libseccomp
    if syscall.isdigit() or syscall.lower().startswith("0x"):
        return _number(syscall, "syscall number")
    nr = libseccomp.syscall_number(token, syscall)
    if nr is None or nr < 0:
        raise PyboxError(f"seccomp explain: no syscall {syscall!r} on this architecture")
    return nr


def _errno_text(ret):
    from pybox.seccomp import bpf
    if ret & bpf.RET_ACTION_FULL != bpf.RET_ERRNO:
        return ""
    code = ret & bpf.RET_DATA
    return f" ({os.strerror(code)})" if code else " (returns 0 without running)"


def _number(text, what):
    try:
        value = int(text, 0)
    except ValueError:
        raise PyboxError(f"seccomp explain: {what} {text!r} is not a number") from None
    if not 0 <= value < 1 << 64:
        raise PyboxError(f"seccomp explain: {what} {text!r} does not fit in 64 bits")
    return value


def _caps(values):
    caps = [c.strip().upper() for v in values for c in v.split(",") if c.strip()]
    return [c if c.startswith("CAP_") else "CAP_" + c for c in caps]


def _program(g, path, caps):
    """A compiled .bpf file as it is, anything else compiled."""
    if path.endswith(".bpf"):
        from pybox.seccomp import bpf
        data = _read(path)
        try:
            bpf.unpack(data)
        except ValueError as err:
            raise PyboxError(f"{path}: {err}") from None
        return data
    return _compile(g, path, caps).program


def _compile(g, path, caps):
    from pybox import log
    from pybox.seccomp import compile_filter, default_profile
    if path == "default":
        profile, where = default_profile(caps), "default"
    else:
        profile, where, caps = _load_profile(path, caps)
    filt = compile_filter(profile, capabilities=caps, cache_dir=False, where=where)
    for name in filt.skipped:
        log.debug(g, f"seccomp: skipped {name!r}: unknown to this libseccomp")
    return filt


def _load_profile(path, caps):
    """The profile and the JSON path errors should name; a config.json gives its own capabilities."""
    import json
    try:
        obj = json.loads(_read(path))
    except ValueError as err:
        raise PyboxError(f"{path}: not JSON: {err}") from None
    if isinstance(obj, dict) and isinstance(obj.get("linux"), dict) and "ociVersion" in obj:
        if not obj["linux"].get("seccomp"):
            raise PyboxError(f"{path}: linux.seccomp: missing")
        process = obj.get("process") or {}
        caps = caps or ((process.get("capabilities") or {}).get("effective") or [])
        return obj["linux"]["seccomp"], f"{path}: linux.seccomp", caps
    return obj, path, caps


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise PyboxError(f"{path}: {err.strerror}", err.errno) from None


def _write_atomically(path, data):
    from pybox.fsutil import write_atomic
    try:
        write_atomic(path, data, 0o644)
    except OSError as err:
        raise PyboxError(f"{path}: {err.strerror}", err.errno) from None
