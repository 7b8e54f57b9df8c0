"""OCI hooks: run each with the container state on stdin, its args, env and timeout."""

import os

from pybox import jsonio
from pybox.errors import PyboxError


def run_hooks(config, kind, state, in_container=False, on_failure=None):
    """in_container: the hooks run inside the container (createContainer, startContainer), so
    they are exec'd through the sealed stub, as the container's process is (init/dmz.py).
    on_failure: called with each hook's error, and the hooks after it still run (poststart and
    poststop: the runtime-spec says warn and go on); without it the first failure raises."""
    hooks = getattr(config.hooks, kind)  # config: a view.Config; each hook a view.View
    stub = None
    if hooks and in_container:
        from pybox.runtime.init import dmz
        stub = dmz.prepare()
    try:
        for i, hook in enumerate(hooks):
            try:
                hook = hook.raw
                if stub is not None and hook.get("env") is None:
                    # In the container, as under runc's init, the environment is process.env.
                    hook = dict(hook, env=config.process.env)
                _run(hook, state, f"hooks.{kind}[{i}]", stub)
            except PyboxError as err:
                if on_failure is None:
                    raise
                on_failure(err)
    finally:
        if stub is not None:
            os.close(stub[0])


def _unblock_all():
    """A hook starts with an empty signal mask. subprocess resets SIGPIPE and SIGXFSZ (which
    Python ignores) itself, but passes on the mask pybox's caller gave it. None when it is empty:
    a preexec_fn costs subprocess its faster spawn."""
    import _signal
    if not _signal.pthread_sigmask(_signal.SIG_BLOCK, ()):
        return None
    return lambda: _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def _run(hook, state, where, stub=None):
    import subprocess
    args = hook.get("args") or [hook["path"]]
    # Without "env" a hook gets the runtime's own environment, as with runc and crun.
    env = None if hook.get("env") is None else dict(item.partition("=")[::2] for item in hook["env"])
    executable, pass_fds = hook["path"], ()
    if stub is not None:  # the stub execs argv[0] with argv[1:]; it reports nothing itself
        if not os.access(hook["path"], os.X_OK):
            why = "permission denied" if os.path.exists(hook["path"]) else "no such file"
            raise PyboxError(f"{where} {hook['path']}: {why}")
        executable, pass_fds = stub[1] or f"/proc/self/fd/{stub[0]}", (stub[0],)
        args = [hook["path"], *args]
    try:
        result = subprocess.run(args, executable=executable, input=jsonio.dumps(state).encode(),
                                env=env, capture_output=True, timeout=hook.get("timeout"),
                                close_fds=True, pass_fds=pass_fds, cwd="/",
                                preexec_fn=_unblock_all())
    except subprocess.TimeoutExpired:
        raise PyboxError(f"{where} {hook['path']}: timed out after {hook['timeout']}s") from None
    except OSError as err:
        raise PyboxError(f"{where} {hook['path']}: {err.strerror}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        reason = f": {detail[-1]}" if detail else ""
        raise PyboxError(f"{where} {hook['path']} exited with status {result.returncode}{reason}")
