"""Generates pybox/_kernel_ffi.py, the cffi out-of-line ABI module behind pybox.kernel.

Out-of-line ABI mode parses these declarations once, at development time, so a container
start imports only _cffi_backend (about 0.4 ms) instead of running pycparser (about 30 ms),
and installing pybox needs no C compiler. Run `python -m pybox._kernel_build` after editing
CDEF; tests/test_kernel.py fails when the committed module is stale.
"""

import os
import shutil
import tempfile

import cffi

CDEF = """
typedef unsigned long size_t;
int mount(const char *source, const char *target, const char *fstype,
          unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int unshare(int flags);
int setns(int fd, int nstype);
int sethostname(const char *name, size_t len);
int setdomainname(const char *name, size_t len);
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int personality(unsigned long persona);
long syscall(long number, ...);

struct open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
struct mount_attr { uint64_t attr_set; uint64_t attr_clr; uint64_t propagation; uint64_t userns_fd; };
struct sock_filter { uint16_t code; uint8_t jt; uint8_t jf; uint32_t k; };
struct sock_fprog { unsigned short len; struct sock_filter *filter; };
struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective; uint32_t permitted; uint32_t inheritable; };
struct sched_attr {
    uint32_t size; uint32_t sched_policy; uint64_t sched_flags; int32_t sched_nice;
    uint32_t sched_priority; uint64_t sched_runtime; uint64_t sched_deadline;
    uint64_t sched_period; uint32_t sched_util_min; uint32_t sched_util_max;
};
"""


def build_ffi():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("pybox._kernel_ffi", None)
    return ffi


def generate():
    """Return the text of the generated module."""
    with tempfile.TemporaryDirectory() as tmp:
        path = build_ffi().compile(tmpdir=tmp)
        with open(path) as f:
            return f.read()


if __name__ == "__main__":
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernel_ffi.py")
    with open(target + ".tmp", "w") as f:
        f.write(generate())
    shutil.move(target + ".tmp", target)
    print("wrote", target)
