"""Generates seccomp/_libseccomp_ffi.py, the cffi out-of-line ABI module for libseccomp.so.2.

libseccomp is a library binding, not a kernel call, so it is its own module apart from
pybox.kernel. Out-of-line ABI mode: no C compiler at install time and no pycparser at import.
Run `python -m pybox.seccomp._libseccomp_build` after editing CDEF; tests/seccomp/test_ffi.py
fails when the committed module is stale.
"""

import contextlib
import io
import os

import cffi

CDEF = """
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };
struct scmp_arg_cmp { unsigned int arg; int op; scmp_datum_t datum_a; scmp_datum_t datum_b; };

const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
uint32_t seccomp_arch_native(void);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_remove(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_exist(const scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
char *seccomp_syscall_resolve_num_arch(uint32_t arch_token, int num);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
void free(void *ptr);
"""


def build_ffi():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("pybox.seccomp._libseccomp_ffi", None)
    return ffi


def generate():
    """Return the text of the generated module."""
    out = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()):  # cffi prints "generating ..."
        build_ffi().emit_python_code(out)
    return out.getvalue()


def write_module():
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_libseccomp_ffi.py")
    with open(target + ".tmp", "w") as f:
        f.write(generate())
    os.replace(target + ".tmp", target)
    return target


if __name__ == "__main__":
    print("wrote", write_module())
