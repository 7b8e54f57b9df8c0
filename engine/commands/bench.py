"""pybox bench density|lifecycle: container density and start-up, pybox against other runtimes.

    pybox bench density --count 1000 --runtime pybox --runtime runc --runtime crun --runtime runsc
    pybox bench density --count 200 --parallel 4 --network bridge --plot density.png
    pybox bench density --frontend --count 100        # pybox run -d against podman run -d
    pybox bench lifecycle -n 50 --runtime pybox --runtime runc
"""

import os
import sys

from pybox.args import Parser
from pybox.errors import PyboxError

density_parser = Parser("bench density", [
    "--count -n = # how many containers each runtime starts (default 100)",
    "--runtime -r * # pybox, pybox-api, runc, crun, runsc or the path of a runc-compatible binary; repeat",
    "--image = # start from this image in pybox's store (default: a busybox rootfs)",
    "--bundle = # or from this bundle's rootfs",
    "--command = # what each container runs (default: sleep inf)",
    "--memory = # a memory limit for each container (256m, 1g)",
    "--parallel -p = # start and remove K containers at a time (default 1)",
    "--network = # none (default) or bridge: a veth on one bridge each, in a network namespace of the bench's own",
    "--frontend # docker-style: `pybox run -d` (with conmon) against `podman run -d --runtime runc`",
    "--rounds = # repeat, alternating the runtimes' order (default 1)",
    "--json = # also write the report as JSON to this file",
    "--plot = # also draw latency and memory to this PNG (needs matplotlib)",
    "--quiet -q # no progress bar",
], usage="bench density [--count N] [--runtime NAME]... [--parallel K] [--network none|bridge] [--frontend] "
         "[--json FILE] [--plot FILE.png]")

lifecycle_parser = Parser("bench lifecycle", [
    "-n = # containers per runtime (default 50)",
    "--runtime -r * # as for density; the first is what the ratios are to",
    "--json = # also write the report as JSON to this file",
    "--quiet -q # no progress bar",
], usage="bench lifecycle [-n N] [--runtime NAME]...")

HELP = """usage: pybox bench density|lifecycle [options]

  density     start N containers per runtime from one shared lower, hold them, remove them:
              containers/s, latency percentiles, memory, mounts and processes per container;
              --parallel K at a time, --network bridge (a veth each, in a network namespace of
              the bench's own), --frontend (pybox run -d against podman run -d, conmon's memory)
  lifecycle   create, start, wait and delete of /bin/true, each phase timed, runtimes interleaved

`pybox bench density --help` and `pybox bench lifecycle --help` show the options."""


def main(g, argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP)
        return 0 if argv else 1
    if os.geteuid() != 0:
        raise PyboxError("bench: needs root (it makes cgroups and overlay mounts)")
    kind, rest = argv[0], argv[1:]
    if kind == "density":
        return _density(rest)
    if kind == "lifecycle":
        return _lifecycle(rest)
    raise PyboxError(f"bench: unknown benchmark {kind!r} (density or lifecycle)")


def _number(text, name, default):
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise PyboxError(f"bench: {name} must be a whole number above 0, not {text!r}")
    return int(text)


def _base():
    import tempfile
    return tempfile.mkdtemp(prefix="pybox-bench-")


def _interruptible():
    """SIGTERM ends the run as Ctrl-C does: through the clean-up."""
    import signal

    def stop(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)


def _density(argv):
    from pybox.engine.bench import density, show
    _, v = density_parser.parse(argv)
    memory = None
    if v["memory"]:
        from pybox.units import parse_size
        try:
            memory = parse_size(v["memory"])
        except ValueError:
            raise PyboxError(f"bench: --memory {v['memory']!r} is not a size like 256m") from None
    if v["plot"]:
        show.check_plot(v["plot"])
    network = v["network"] or "none"
    if network not in ("none", "bridge"):
        raise PyboxError(f"bench: --network {network!r}: expected none or bridge")
    command = v["command"].split() if v["command"] else ["sleep", "inf"]
    opts = density.Options(_number(v["count"], "--count", 100), v["runtime"] or ["pybox", "runc"],
                           bundle=v["bundle"], image=v["image"], command=command, memory=memory,
                           rounds=_number(v["rounds"], "--rounds", 1),
                           parallel=_number(v["parallel"], "--parallel", 1), network=network)
    if v["frontend"]:
        return _frontend(opts, v)
    if network == "bridge":
        from pybox.engine.bench.network import enter_private_netns
        enter_private_netns()  # before any thread
    report = _measure(density.run, show.density_table, opts, v)
    return 1 if any(e["left_behind"] for e in report["runtimes"]) else 0


def _measure(run, table, opts, v):
    """Run a density benchmark through to its clean-up (also on Ctrl-C and SIGTERM), then print the
    table and write the JSON and the plot asked for; the report."""
    from pybox.engine.bench import show
    _interruptible()
    report = run(opts, _base(), None if v["quiet"] else show.progress)
    table(report)
    if v["json"]:
        show.write_json(v["json"], report)
    if v["plot"]:
        show.plot(v["plot"], report)
    return report


def _frontend(opts, v):
    from pybox.engine.bench import frontend, show
    for name in ("image", "bundle", "memory", "runtime"):
        if v[name]:
            raise PyboxError(f"bench: --frontend takes --count, --parallel, --rounds, --command, --json and "
                             f"--plot, not --{name}")
    if opts.network != "none":
        raise PyboxError("bench: --frontend runs with --network none only")
    report = _measure(frontend.run, show.frontend_table, opts, v)
    # What podman leaves is its own (reported, and removed by the clean-up); what pybox leaves fails.
    return 1 if any(e["left_behind"] for e in report["runtimes"] if e["frontend"] == "pybox") else 0


def _lifecycle(argv):
    from pybox.engine.bench import lifecycle, show
    _, v = lifecycle_parser.parse(argv)
    _interruptible()
    report = lifecycle.run(v["runtime"] or ["pybox", "runc"], _number(v["n"], "-n", 50), _base(),
                           None if v["quiet"] else show.progress)
    show.lifecycle_table(report)
    if v["json"]:
        show.write_json(v["json"], report)
    return 0


if __name__ == "__main__":
    sys.exit(main(None, sys.argv[1:]))
