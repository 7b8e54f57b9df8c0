"""Benchmark: compiling Docker's default seccomp profile against loading it from pybox's cache.

    python -m integration.bench_seccomp [--runs 30]

Prints medians for: compile_filter in process, without and with the cache; the same as a fresh
process would pay it (imports included); and `run /bin/true` under the default profile against
no profile, for pybox and for runc on the same bundle, so the cost seccomp adds to a container
start is compared with runc's (which compiles through libseccomp on every start). Not a test.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from integration.bench_runtime import PYBOX, cgroup_parent, make_bundle, timed
from pybox.seccomp import compile_filter, default_profile

DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
FRESH = ("import sys, time; t = time.perf_counter(); from pybox.seccomp import compile_filter; "
         "import json; p = json.load(open(sys.argv[1])); "
         "compile_filter(p, cache_dir=sys.argv[2] if sys.argv[2] != '-' else False); "
         "print(time.perf_counter() - t)")


def median_ms(samples):
    return statistics.median(samples) * 1000


def in_process(profile, cache_dir, runs):
    compile_filter(profile, cache_dir=False)  # dlopen and first imports out of the way
    cold = [_clock(lambda: compile_filter(profile, cache_dir=False)) for _ in range(runs)]
    compile_filter(profile, cache_dir=cache_dir)
    warm = [_clock(lambda: compile_filter(profile, cache_dir=cache_dir)) for _ in range(runs)]
    return median_ms(cold), median_ms(warm)


def fresh_process(profile_path, cache_dir, runs):
    def once(where):
        out = subprocess.run([sys.executable, "-c", FRESH, profile_path, where], capture_output=True,
                             text=True, check=True).stdout
        return float(out)
    once(cache_dir)
    return median_ms([once("-") for _ in range(runs)]), median_ms([once(cache_dir) for _ in range(runs)])


def _clock(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def container_runs(bundle, base, runs):
    """Median ms of `run /bin/true` with and without the default profile, per runtime."""
    config_path = os.path.join(bundle, "config.json")
    with open(config_path) as f:
        spec = json.load(f)
    plain = json.loads(json.dumps(spec))
    spec["linux"]["seccomp"] = default_profile(spec["process"]["capabilities"]["effective"])
    samples = {}
    for runtime in ("pybox", "runc"):
        binary = PYBOX if runtime == "pybox" else shutil.which("runc")
        if not binary:
            continue
        cmd = [binary, "--root", f"{base}/{runtime}"]
        for i in range(runs + 1):  # interleaved, so drift hits both; the first round warms up
            for label, config in (("none", plain), ("default", spec)):
                with open(config_path, "w") as f:
                    json.dump(config, f)
                elapsed = timed([*cmd, "run", "--bundle", bundle, f"{label}{i}"])[0]
                if i:
                    samples.setdefault((runtime, label), []).append(elapsed)
    return {key: median_ms(values) for key, values in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="pybox-bench-seccomp-")
    os.environ["PYBOX_SECCOMP_CACHE"] = cache_dir = os.path.join(base, "cache")
    try:
        profile = default_profile(DOCKER_CAPS)
        profile_path = os.path.join(base, "profile.json")
        with open(profile_path, "w") as f:
            json.dump(profile, f)
        filt = compile_filter(profile, cache_dir=False)
        print(f"Docker's default profile: {sum(len(r['names']) for r in profile['syscalls'])} names, "
              f"{len(filt.program) // 8} BPF instructions; {args.runs} runs, medians; "
              f"python {sys.version.split()[0]}, kernel {os.uname().release}")
        cold, warm = in_process(profile, cache_dir, args.runs)
        print(f"in process     compile {cold:8.2f} ms   cache load {warm:6.2f} ms   ratio {cold / warm:6.1f}x")
        cold, warm = fresh_process(profile_path, cache_dir, args.runs)
        print(f"fresh process  compile {cold:8.2f} ms   cache load {warm:6.2f} ms   ratio {cold / warm:6.1f}x")
        with cgroup_parent() as parent:
            runs = container_runs(make_bundle(base, f"{parent}/c"), base, args.runs)
        for runtime in ("pybox", "runc"):
            if (runtime, "none") in runs:
                none, default = runs[runtime, "none"], runs[runtime, "default"]
                print(f"{runtime:5} run /bin/true: no seccomp {none:7.2f} ms, default profile {default:7.2f} ms, "
                      f"seccomp adds {default - none:6.2f} ms")
        if ("runc", "none") in runs:
            added = {r: runs[r, "default"] - runs[r, "none"] for r in ("pybox", "runc")}
            print(f"seccomp cost per start, pybox/runc: {added['pybox'] / added['runc']:.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
