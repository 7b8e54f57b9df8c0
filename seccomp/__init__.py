"""pybox.seccomp: OCI seccomp profiles compiled to BPF through libseccomp, cached, and loaded.

The runtime's calls:
    filt = compile_filter(seccomp_obj, capabilities=None, cache_dir=None)   # parent, before fork
    fd = install(filt)                                                      # init, before execve
    send_listener(filt, fd, state)                                          # parent, NOTIFY only
    default_profile(capabilities) -> dict                                   # Docker's default
Kept light: every container start imports this package; the heavy parts load on first use.
"""


def compile_filter(seccomp_obj, capabilities=None, cache_dir=None, where="linux.seccomp"):
    """Validate and compile (or load from the cache) an OCI seccomp object.

    A Docker-format profile (archMap, includes/excludes) is resolved against capabilities first.
    cache_dir: a directory, None for $PYBOX_SECCOMP_CACHE or /var/cache/pybox/seccomp, False for none.
    """
    from pybox.seccomp import cache, libseccomp
    from pybox.seccomp.filter import Filter
    from pybox.seccomp.default import from_docker, is_docker_format
    if is_docker_format(seccomp_obj):
        seccomp_obj = from_docker(seccomp_obj, capabilities)
    directory = cache.cache_dir(cache_dir) if cache_dir is not False else None
    digest = cache.key(seccomp_obj, libseccomp.version()) if directory else None
    if digest:
        program = cache.load(directory, digest)
        if program is not None:  # only a profile that passed validation was ever stored
            return Filter(program, seccomp_obj, cached=True)
    from pybox.seccomp.compiler import compile_isolated
    from pybox.seccomp.profile import validate
    profile = validate(seccomp_obj, where)
    program, skipped = compile_isolated(profile, where)
    if digest:
        cache.store(directory, digest, program)
    return Filter(program, profile, skipped)


def install(filt):
    from pybox.seccomp.load import install
    return install(filt)


def send_listener(filt, fd, state):
    from pybox.seccomp.load import send_listener
    return send_listener(filt, fd, state)


def default_profile(capabilities):
    from pybox.seccomp.default import default_profile
    return default_profile(capabilities)

