"""The last step into the container's program: execve through a sealed in-memory stub.

CVE-2019-5736, for a runtime written in Python: the process that execs the container's program
is the host's interpreter. If that program is a script whose first line is `#!/proc/self/exe`,
the kernel re-executes the interpreter itself inside the container, dumpable again, and the
container can write to the host's interpreter through /proc/<pid>/exe. So the init and every
exec'd process hand over to a stub that lives in a sealed memfd: a 150-byte static ELF whose
only work is execve(argv[0], argv + 1, envp). `#!/proc/self/exe` then re-executes the stub,
which nobody can write to (F_SEAL_WRITE), and the host's interpreter is never the executable of
anything the container can run. What it costs: a memfd, one write and one more execve of a
binary with no loader and no libraries (see README, Performance).

Before the stub, the Python stage is not dumpable (PR_SET_DUMPABLE 0, set by the parent before
the fork, so even a newborn child is never reachable through /proc by the container's processes).

The stub is machine code for x86-64, written out below; on other machines prepare() says so.
"""

import os

MFD_EXEC = 0x0010  # Linux 6.3+: exec allowed even under vm.memfd_noexec=1
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8

# At entry the stack holds argc, argv[0..argc-1], NULL, envp[...], NULL. The stub is exec'd as
# [path, *args]: it runs execve(argv[0], &argv[1], envp), and exit_group(127) if that fails or if
# it was given fewer than two words (so that a script naming it as its interpreter ends at once).
_X86_64_CODE = bytes([
    0x48, 0x83, 0x3C, 0x24, 0x02,        # cmp  qword [rsp], 2
    0x72, 0x18,                          # jb   fail (+24)
    0x48, 0x8B, 0x7C, 0x24, 0x08,        # mov  rdi, [rsp+8]          argv[0]: the program's path
    0x48, 0x8D, 0x74, 0x24, 0x10,        # lea  rsi, [rsp+16]         &argv[1]: its argv
    0x48, 0x8B, 0x04, 0x24,              # mov  rax, [rsp]            argc
    0x48, 0x8D, 0x54, 0xC4, 0x10,        # lea  rdx, [rsp+rax*8+16]   envp
    0xB8, 0x3B, 0x00, 0x00, 0x00,        # mov  eax, 59               execve
    0x0F, 0x05,                          # syscall
    0xBF, 0x7F, 0x00, 0x00, 0x00,        # fail: mov edi, 127
    0xB8, 0xE7, 0x00, 0x00, 0x00,        # mov  eax, 231              exit_group
    0x0F, 0x05,                          # syscall
])


def _u(value, size):
    return value.to_bytes(size, "little")


def _elf(machine, code):
    """A static ET_EXEC image: ELF header, a PT_LOAD of the whole file (r-x) and a PT_GNU_STACK
    (rw-, so the stack is not executable)."""
    base, ehsize, phentsize, phnum = 0x400000, 64, 56, 2
    entry = base + ehsize + phentsize * phnum
    size = ehsize + phentsize * phnum + len(code)
    header = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, version 1, SysV
              + _u(2, 2) + _u(machine, 2) + _u(1, 4)  # ET_EXEC, machine, version
              + _u(entry, 8) + _u(ehsize, 8) + _u(0, 8)  # entry, phoff, shoff
              + _u(0, 4) + _u(ehsize, 2) + _u(phentsize, 2) + _u(phnum, 2)  # flags, sizes, phnum
              + _u(0, 2) + _u(0, 2) + _u(0, 2))  # no section headers
    load = (_u(1, 4) + _u(5, 4) + _u(0, 8) + _u(base, 8) + _u(base, 8)  # PT_LOAD, R|X, offset 0
            + _u(size, 8) + _u(size, 8) + _u(0x1000, 8))
    stack = _u(0x6474E551, 4) + _u(6, 4) + bytes(48)  # PT_GNU_STACK, R|W
    return header + load + stack + code


STUBS = {"x86_64": (0x3E, _X86_64_CODE)}
MACHINE = os.uname().machine  # now: linux.personality LINUX32 makes uname say i686 later


def stub_image(machine=None):
    machine = machine or MACHINE
    if machine not in STUBS:
        return None
    return _elf(*STUBS[machine])


def prepare():
    """A sealed memfd holding the stub, and how to exec it; call it before seccomp is loaded, so
    that after the filter there is nothing but the execve. Raises OSError or PyboxError."""
    from fcntl import F_ADD_SEALS, fcntl  # a built-in module: no file to find after pivot_root
    image = stub_image()
    if image is None:
        from pybox.errors import PyboxError
        raise PyboxError(f"exec: no exec stub for {MACHINE} (CVE-2019-5736 protection)")
    try:
        try:
            fd = os.memfd_create("pybox-exec", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | MFD_EXEC)
        except OSError:  # before Linux 6.3 MFD_EXEC is unknown (EINVAL)
            fd = os.memfd_create("pybox-exec", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.write(fd, image)
        fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
    except OSError as err:
        from pybox.errors import from_oserror
        raise from_oserror(err, "exec: the sealed exec stub (memfd)") from None
    # execve of /proc/self/fd/N is a plain execve, which every seccomp profile that lets the
    # container run at all allows; without /proc, fexecve (execveat) is the way.
    via = f"/proc/self/fd/{fd}"
    return fd, via if os.path.exists(via) else None


def execve(prepared, path, args, env):
    """Replace this process with the stub, which execs path with args and env."""
    fd, via = prepared
    os.execve(via if via is not None else fd, [path, *args], env)
