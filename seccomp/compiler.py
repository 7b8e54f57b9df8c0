"""Validated profile -> BPF program, through libseccomp, with runc's ENOSYS stub in front.

Rule semantics follow runc: names this libseccomp does not know are skipped (debug log), rules
whose action equals the default are dropped (libseccomp refuses them), and several conditions
on the same argument become one rule per condition (libseccomp refuses them in one rule).
"""

import errno
import logging
import os
import signal

from pybox.errors import PyboxError
from pybox.seccomp import bpf, libseccomp
from pybox.seccomp.profile import ACTIONS, ARCH_NAMES, OPERATORS

log = logging.getLogger("pybox.seccomp")

ENOSYS = 38
X32_SYSCALL_BIT = 0x40000000
X32_OWN_CALLS = 512  # x32's numbers from 512 are its variants of old calls


def action_value(action, errno_ret):
    base = ACTIONS[action]
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        return base | (errno_ret & bpf.RET_DATA)
    return base


COMPILE_TIMEOUT = 10.0  # seconds; the default profile takes about 15 ms


def compile_isolated(profile, where="linux.seccomp", timeout=None):
    """compile_profile in a forked child: libseccomp 2.5.4 loops forever on some rule sets
    (two rules for one call with range conditions on shared arguments), and a hung or crashed
    library must cost the user an error, not the runtime."""
    import json
    timeout = timeout or COMPILE_TIMEOUT
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _compile_child(profile, where, r, w)
    os.close(w)
    try:
        reply = _read_reply(r, timeout)
    finally:
        os.close(r)
        if reply is None:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if reply is None:
        raise PyboxError(f"{where}: libseccomp {libseccomp.version()} did not finish compiling the profile "
                         f"in {timeout:g} s (its rule database loops on some overlapping argument rules)")
    answer = json.loads(reply) if reply else {"error": f"{where}: libseccomp crashed compiling the profile"}
    if "error" in answer:
        raise PyboxError(answer["error"], answer.get("errno"))
    for name in answer["skipped"]:
        log.debug("seccomp: skipping syscall %r: unknown to libseccomp %s", name, libseccomp.version())
    return bytes.fromhex(answer["program"]), answer["skipped"]


def _compile_child(profile, where, r, w):
    import json
    try:
        os.close(r)
        try:
            program, skipped = compile_profile(profile, where)
            answer = {"program": program.hex(), "skipped": skipped}
        except PyboxError as err:
            answer = {"error": str(err), "errno": err.errno}
        data = json.dumps(answer).encode()
        while data:
            data = data[os.write(w, data):]
    finally:
        os._exit(0)


def _read_reply(fd, timeout):
    """All the child wrote, or None when it did not finish in time."""
    import select
    import time
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def compile_profile(profile, where="linux.seccomp"):
    """profile: the normal form from profile.validate. Returns (program bytes, skipped names)."""
    default = action_value(profile["defaultAction"], profile["defaultErrnoRet"])
    with libseccomp.Context(default) as ctx:
        ctx.set_attr(libseccomp.ATTR_CTL_NNP, 0)  # the runtime sets no_new_privs itself
        if len(profile["syscalls"]) >= 8:  # runc's threshold: libseccomp < 2.5.4 lost the default without rules
            ctx.set_attr(libseccomp.ATTR_CTL_OPTIMIZE, 2)  # a binary tree: O(log n) per syscall
        arches = _add_arches(ctx, profile["architectures"], f"{where}.architectures")
        skipped = []
        for i, rule in enumerate(profile["syscalls"]):
            skipped += _add_rule(ctx, rule, default, f"{where}.syscalls[{i}]")
        program = ctx.export()
    if profile["defaultAction"] not in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"):
        program = enosys_stub(arches, _highest_numbers(profile, arches)) + program
    if len(program) // 8 > bpf.MAX_INSNS:
        raise PyboxError(f"{where}: the filter needs {len(program) // 8} BPF instructions, "
                         f"more than the kernel's limit of {bpf.MAX_INSNS}")
    return program, list(dict.fromkeys(skipped))


def _add_arches(ctx, names, where):
    tokens = [libseccomp.native_arch()]
    for name in names:
        token = libseccomp.arch_token(ARCH_NAMES[name])
        if token and token not in tokens:
            try:
                ctx.add_arch(token)
            except PyboxError as err:  # e.g. EDOM: a big-endian arch in a little-endian filter
                raise PyboxError(f"{where}: {name}: {err}") from None
            tokens.append(token)
    return tokens


def _add_rule(ctx, rule, default, where):
    action = action_value(rule["action"], rule["errnoRet"])
    if action == default:
        return []
    skipped = []
    for name in rule["names"]:
        nr = libseccomp.syscall_number(libseccomp.native_arch(), name)
        if nr is None:
            skipped.append(name)
            continue
        for conditions in _condition_sets(rule["args"]):
            result = ctx.add_rule(action, nr, conditions)
            if result == -errno.EEXIST:
                raise PyboxError(f"{where}: {name!r} already has a rule with the same conditions "
                                 "and another action")
            if result < 0:
                raise PyboxError(f"{where}: libseccomp refused the rule for {name!r}: {os.strerror(-result)}")
    return skipped


def _condition_sets(args):
    """All conditions in one rule, unless two test the same argument: then one rule each (OR)."""
    conditions = [(a["index"], OPERATORS[a["op"]], *_datums(a)) for a in args]
    indexes = [c[0] for c in conditions]
    if len(set(indexes)) == len(indexes):
        return [conditions]
    return [[c] for c in conditions]


def _datums(arg):
    if arg["op"] == "SCMP_CMP_MASKED_EQ":
        return arg["value"], arg["valueTwo"]  # (argument & value) == valueTwo
    return arg["value"], 0


def _highest_numbers(profile, arches):
    """For each arch: the highest syscall number the profile names (x32 numbers keep their bit)."""
    names = {name for rule in profile["syscalls"] for name in rule["names"]}
    highest = {}
    for arch in arches:
        numbers = [libseccomp.syscall_number(arch, n) for n in names]
        numbers = [nr for nr in numbers if nr is not None and 0 <= nr < X32_SYSCALL_BIT | X32_OWN_CALLS]
        if numbers:
            highest[arch] = max(numbers)
    return highest


AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_X32 = 0x4000003E  # libseccomp's token; the kernel reports x32 as X86_64 with the bit set


def enosys_stub(arches, highest):
    """BPF that answers ENOSYS for syscall numbers above the highest the profile names.

    A program newer than the profile (glibc trying clone3, faccessat2, ...) then sees "not
    implemented" and falls back, instead of the default EPERM that it takes for a real refusal.
    Everything else jumps to libseccomp's program, which starts by loading the arch again.
    """
    blocks = []
    for arch in arches:
        if arch == AUDIT_ARCH_X32:
            continue  # checked inside the x86_64 block, as the kernel reports it
        if arch == AUDIT_ARCH_X86_64 and AUDIT_ARCH_X32 in arches:
            blocks.append(_x86_64_block(highest.get(arch), highest.get(AUDIT_ARCH_X32)))
        elif arch in highest:
            blocks.append(_arch_block(arch, highest[arch]))
    if not blocks:
        return b""
    return bpf.pack(_link(blocks))


# A block is a list of instructions whose jumps name targets symbolically: "next" (the next
# block), "enosys" or "main"; _link turns them into offsets.
def _arch_block(arch, top):
    return [(bpf.JMP | bpf.JEQ | bpf.K, 0, "next", arch),
            (bpf.LD | bpf.W | bpf.ABS, 0, 0, 0),
            (bpf.JMP | bpf.JGT | bpf.K, "enosys", "main", top)]


def _x86_64_block(top64, top32):
    block = [(bpf.JMP | bpf.JEQ | bpf.K, 0, "next", AUDIT_ARCH_X86_64),
             (bpf.LD | bpf.W | bpf.ABS, 0, 0, 0),
             (bpf.JMP | bpf.JSET | bpf.K, 1, 0, X32_SYSCALL_BIT)]
    block.append((bpf.JMP | bpf.JGT | bpf.K, "enosys", "main", top64) if top64 is not None
                  else (bpf.JMP | bpf.JA, 0, 0, "main"))
    if top32 is None:
        return block + [(bpf.JMP | bpf.JA, 0, 0, "main")]
    # x32's own calls (512 and up) are old ones with x32 arguments, not new syscalls.
    return block + [(bpf.JMP | bpf.JGT | bpf.K, 0, "main", top32),
                    (bpf.JMP | bpf.JGE | bpf.K, "main", "enosys", X32_SYSCALL_BIT | X32_OWN_CALLS)]


def _link(blocks):
    head = [(bpf.LD | bpf.W | bpf.ABS, 0, 0, 4)]  # A = arch
    starts, pos = [], len(head)
    for block in blocks:
        starts.append(pos)
        pos += len(block)
    enosys = pos
    main = pos + 1  # libseccomp's program follows the ENOSYS return
    insns = list(head)
    for b, block in enumerate(blocks):
        next_start = starts[b + 1] if b + 1 < len(blocks) else main
        for j, insn in enumerate(block):
            here = starts[b] + j + 1  # jumps count from the next instruction
            target = {"next": next_start, "enosys": enosys, "main": main}
            code, jt, jf, k = insn
            jt = target[jt] - here if isinstance(jt, str) else jt
            jf = target[jf] - here if isinstance(jf, str) else jf
            k = target[k] - here if isinstance(k, str) else k
            insns.append((code, jt, jf, k))
    insns.append((bpf.RET | bpf.K, 0, 0, bpf.RET_ERRNO | ENOSYS))
    return insns
