"""pybox.engine.bench: `pybox bench` (density, lifecycle), pybox against other OCI runtimes.

runtimes.py drives a runtime (runc's command line, or pybox's Python API); density.py and
lifecycle.py measure; show.py prints and writes the report. engine/commands/bench.py parses.
"""
