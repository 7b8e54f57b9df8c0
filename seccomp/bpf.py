"""Classic BPF as seccomp uses it: instruction packing, the seccomp_data layout and an interpreter.

The interpreter runs a compiled program on a (arch, nr, args) triple without the kernel, so
`pybox seccomp explain` reports what the installed filter would do, from the very bytes loaded.
"""

import struct

INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k

# Instruction classes and fields (linux/bpf_common.h).
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, ABS, IMM, MEM = 0x00, 0x20, 0x00, 0x60
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X, A = 0x00, 0x08, 0x10


# seccomp return values (linux/seccomp.h); the low 16 bits are data (an errno, a trace message).
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF

MAX_INSNS = 4096  # BPF_MAXINSNS: the kernel refuses longer programs


def pack(insns):
    """insns: (code, jt, jf, k) tuples -> the packed struct sock_filter array."""
    return b"".join(INSN.pack(*insn) for insn in insns)


def unpack(program):
    if not program or len(program) % INSN.size:
        raise ValueError(f"a BPF program is a non-empty multiple of {INSN.size} bytes, not {len(program)}")
    return [INSN.unpack_from(program, i) for i in range(0, len(program), INSN.size)]


def seccomp_data(arch, nr, args=(), ip=0):
    """The struct seccomp_data the kernel hands a filter (little-endian on x86)."""
    args = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    return struct.pack("<iIQ6Q", nr if nr < 0x80000000 else nr - (1 << 32), arch, ip, *args)


def run(program, data):
    """Run a seccomp BPF program on packed seccomp_data; returns the 32-bit return value."""
    insns = unpack(program)
    a = x = 0
    mem = [0] * 16
    pc = 0
    while pc < len(insns):
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == RET:
            return (a if code & 0x18 == A else k) & 0xFFFFFFFF
        if cls == LD:
            a = _load(code, k, data, mem, x)
        elif cls == LDX:
            x = mem[k] if code & 0xE0 == MEM else k
        elif cls == ST:
            mem[k] = a
        elif cls == STX:
            mem[k] = x
        elif cls == ALU:
            a = _alu(code, a, x if code & X else k)
        elif cls == JMP:
            pc += _jump(code, a, x if code & X else k, jt, jf, k)
        elif cls == MISC:
            if code & 0xF8:
                a = x  # TXA
            else:
                x = a  # TAX
    raise ValueError("BPF program ran off its end without returning")


def _load(code, k, data, mem, x):
    mode = code & 0xE0
    if mode == ABS:
        return struct.unpack_from("<I", data, k)[0]
    if mode == MEM:
        return mem[k]
    if mode == IMM:
        return k
    if mode == 0x80:  # BPF_LEN
        return len(data)
    raise ValueError(f"unsupported BPF load {code:#x}")


_ALU_OPS = {
    0x00: lambda a, b: a + b, 0x10: lambda a, b: a - b, 0x20: lambda a, b: a * b,
    0x30: lambda a, b: a // b, 0x40: lambda a, b: a | b, 0x50: lambda a, b: a & b,
    0x60: lambda a, b: a << b, 0x70: lambda a, b: a >> b, 0x80: lambda a, b: -a,
    0x90: lambda a, b: a % b, 0xA0: lambda a, b: a ^ b,
}


def _alu(code, a, operand):
    return _ALU_OPS[code & 0xF0](a, operand) & 0xFFFFFFFF


def _jump(code, a, operand, jt, jf, k):
    op = code & 0xF0
    if op == JA:
        return k
    taken = {JEQ: a == operand, JGT: a > operand, JGE: a >= operand, JSET: bool(a & operand)}[op]
    return jt if taken else jf


def describe(ret):
    """A seccomp return value as the OCI action that produces it: SCMP_ACT_ERRNO(1)."""
    action, data = ret & RET_ACTION_FULL, ret & RET_DATA
    names = {RET_KILL_PROCESS: "SCMP_ACT_KILL_PROCESS", RET_KILL_THREAD: "SCMP_ACT_KILL_THREAD",
             RET_TRAP: "SCMP_ACT_TRAP", RET_USER_NOTIF: "SCMP_ACT_NOTIFY", RET_LOG: "SCMP_ACT_LOG",
             RET_ALLOW: "SCMP_ACT_ALLOW"}
    if action == RET_ERRNO:
        return f"SCMP_ACT_ERRNO({data})"
    if action == RET_TRACE:
        return f"SCMP_ACT_TRACE({data})"
    return names.get(action, f"unknown seccomp action {ret:#x}")
