"""cgroup v2 device rules: an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program generated from the rules.

v1 rules are an ordered list where a later rule overrides an earlier one, per access letter: after
"allow c 1:3 rwm" then "deny c 1:3 w", reading is allowed and writing is not. The program keeps
that meaning by deciding each requested access bit on its own: for each bit, the last rule that
names the bit and matches the device decides; no match denies (v2's default, like runc's).

The kernel hands the program struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor},
access_type = (access << 16) | type. It returns 1 to allow, 0 to deny.
"""

import os
import struct

from pybox.errors import PyboxError

BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH, BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 5, 8, 9, 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

ACCESS_BITS = (("m", 1), ("r", 2), ("w", 4))  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
DEVICE_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, _CHAR

# Opcodes (linux/bpf.h): class | operation | source.
LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
MOV64_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
JA = 0x05  # BPF_JMP | BPF_JA
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
EXIT = 0x95  # BPF_JMP | BPF_EXIT
R0, R1, R2, R3, R4, R5 = range(6)  # R1: the context; R2 type, R3 access, R4 major, R5 minor


class Assembler:
    """Instructions with symbolic jump targets, resolved to relative offsets at the end."""

    def __init__(self):
        self.code = []  # [opcode, dst, src, target label or None, imm]
        self.labels = {}
        self.used = set()

    def emit(self, opcode, dst=0, src=0, imm=0, off=0, target=None):
        self.code.append([opcode, dst, src, target, off, imm])
        if target:
            self.used.add(target)

    def label(self, name):
        self.labels[name] = len(self.code)

    def assemble(self):
        out = []
        for i, (opcode, dst, src, target, off, imm) in enumerate(self.code):
            if target:
                off = self.labels[target] - (i + 1)
            out.append(struct.pack("<BBhi", opcode, dst | (src << 4), off, imm))
        return b"".join(out)


def program(rules):
    """The eBPF bytecode for a list of resources.DeviceRule."""
    asm = Assembler()
    asm.emit(LDX_W, R2, R1, off=0)
    asm.emit(AND32_K, R2, imm=0xFFFF)
    asm.emit(LDX_W, R3, R1, off=0)
    asm.emit(RSH32_K, R3, imm=16)
    asm.emit(LDX_W, R4, R1, off=4)
    asm.emit(LDX_W, R5, R1, off=8)
    for letter, bit in ACCESS_BITS:
        done = f"done_{letter}"
        asm.emit(JSET_K, R3, imm=bit, off=1)  # this access is requested: decide it
        asm.emit(JA, target=done)
        _decide(asm, [r for r in rules if letter in r.access], letter, done)
        asm.label(done)
    asm.emit(MOV64_K, R0, imm=1)
    asm.emit(EXIT)
    if "deny" in asm.used:  # the verifier refuses unreachable instructions
        asm.label("deny")
        asm.emit(MOV64_K, R0, imm=0)
        asm.emit(EXIT)
    return asm.assemble()


def _decide(asm, rules, letter, done):
    """The last matching rule wins: test them newest first; no match denies."""
    for n, rule in enumerate(reversed(rules)):
        skip = f"skip_{letter}_{n}"
        conditions = []
        if rule.type != "a":
            conditions.append((R2, DEVICE_TYPES[rule.type]))
            conditions += [(reg, num) for reg, num in ((R4, rule.major), (R5, rule.minor)) if num is not None]
        for reg, value in conditions:
            asm.emit(JNE_K, reg, imm=value, target=skip)
        asm.emit(JA, target=done if rule.allow else "deny")
        if not conditions:
            return  # matches every device: older rules can never decide this bit
        asm.label(skip)
    asm.emit(JA, target="deny")


def _buffer(layout, *values, size=None):
    from pybox.kernel import ffi
    raw = struct.pack(layout, *values)
    return ffi.new("char[]", raw.ljust(size or len(raw), b"\0"))


def _address(buf):
    from pybox.kernel import ffi
    return int(ffi.cast("uintptr_t", buf))


def load(bytecode):
    from pybox.kernel import bpf, ffi
    insns = ffi.new("char[]", bytecode)
    license_ = ffi.new("char[]", b"Apache")
    name = b"pybox_devices"

    log = ffi.new("char[]", 1 << 16)

    def attempt(log_level):
        attr = _buffer("<IIQQIIQII16s", BPF_PROG_TYPE_CGROUP_DEVICE, len(bytecode) // 8,
                       _address(insns), _address(license_), log_level, len(log) if log_level else 0,
                       _address(log) if log_level else 0, 0, 0, name, size=128)
        return bpf(BPF_PROG_LOAD, attr)

    try:
        return attempt(0)
    except OSError as err:
        reason = err.strerror
    try:
        os.close(attempt(1))  # loads with the verifier's log on: only to explain the failure
    except OSError:
        lines = ffi.string(log).decode(errors="replace").strip().splitlines()
        reason += f" ({lines[-1]})" if lines else ""
    raise PyboxError(f"linux.resources.devices: loading the eBPF device filter: {reason}")


def _attached(cgroup_fd):
    from pybox.kernel import bpf, ffi
    ids = ffi.new("uint32_t[]", 64)
    attr = _buffer("<IIIIQI", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, _address(ids), 64, size=40)
    bpf(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", ffi.buffer(attr), 24)[0]
    return [ids[i] for i in range(count)]


def _detach(cgroup_fd, prog_id):
    from pybox.kernel import bpf
    try:
        prog_fd = bpf(BPF_PROG_GET_FD_BY_ID, _buffer("<III", prog_id, 0, 0, size=16))
    except FileNotFoundError:
        return
    try:
        bpf(BPF_PROG_DETACH, _buffer("<IIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, 0, size=24))
    finally:
        os.close(prog_fd)


def apply(directory, rules):
    """Replace the cgroup's device filter: attach the new program, then detach the old ones,
    so no moment is left without a filter."""
    from pybox.kernel import bpf
    prog_fd = load(program(rules))
    try:
        cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        os.close(prog_fd)
        raise PyboxError(f"linux.resources.devices: {directory}: {err.strerror}", err.errno) from None
    try:
        old = _attached(cgroup_fd)
        bpf(BPF_PROG_ATTACH, _buffer("<IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI,
                                     0, size=24))
        for prog_id in old:
            _detach(cgroup_fd, prog_id)
    except OSError as err:
        raise PyboxError(f"linux.resources.devices: attaching the eBPF device filter to {directory}: "
                         f"{err.strerror}", err.errno) from None
    finally:
        os.close(cgroup_fd)
        os.close(prog_fd)
