"""Generates netns/_libnftables_ffi.py, the cffi out-of-line ABI module for libnftables.so.1.

libnftables runs nft's JSON interface in-process: no fork and exec of /usr/sbin/nft (about
10 ms) per attach or detach. Run `python -m pybox.netns._libnftables_build` after editing CDEF.
"""

import os

import cffi

CDEF = """
struct nft_ctx;
struct nft_ctx *nft_ctx_new(uint32_t flags);
void nft_ctx_free(struct nft_ctx *ctx);
void nft_ctx_output_set_flags(struct nft_ctx *ctx, unsigned int flags);
int nft_ctx_buffer_output(struct nft_ctx *ctx);
const char *nft_ctx_get_output_buffer(struct nft_ctx *ctx);
int nft_ctx_buffer_error(struct nft_ctx *ctx);
const char *nft_ctx_get_error_buffer(struct nft_ctx *ctx);
int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf);
"""


def build_ffi():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("pybox.netns._libnftables_ffi", None)
    return ffi


if __name__ == "__main__":
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_libnftables_ffi.py")
    build_ffi().emit_python_code(target)
    print("wrote", target)
