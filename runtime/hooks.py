"""OCI hooks: run each with the container state on stdin, its args, env and timeout."""

import os

from pybox import jsonio
from pybox.errors import PyboxError


def run_hooks(config, kind, state):
    for i, hook in enumerate((config.get("hooks") or {}).get(kind) or []):
        _run(hook, state, f"hooks.{kind}[{i}]")


def _run(hook, state, where):
    import subprocess
    args = hook.get("args") or [hook["path"]]
    env = dict(item.partition("=")[::2] for item in hook.get("env") or [])
    try:
        result = subprocess.run(args, executable=hook["path"], input=jsonio.dumps(state).encode(),
                                env=env, capture_output=True, timeout=hook.get("timeout"),
                                close_fds=True, cwd="/")
    except subprocess.TimeoutExpired:
        raise PyboxError(f"{where} {hook['path']}: timed out after {hook['timeout']}s") from None
    except OSError as err:
        raise PyboxError(f"{where} {hook['path']}: {err.strerror}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        reason = f": {detail[-1]}" if detail else ""
        raise PyboxError(f"{where} {hook['path']} exited with status {result.returncode}{reason}")
