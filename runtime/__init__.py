"""pybox.runtime: the OCI runtime (runc's contract): the config checked before any fork, the
state store, the lifecycle (create, start, kill, delete, exec, pause), the container init, and
its command line `pybox-runc` (cli.py, commands/). It imports nothing from pybox.engine."""
