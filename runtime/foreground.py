"""Staying a container process's parent in the foreground: runc's run, exec and the engine's run.

console_pair/receive_master take the pty master when process.terminal is set and no
--console-socket is given; forward_signals passes ours on to the process; wait_for proxies the
terminal and returns its exit status (128+N when killed by signal N).
"""

import os
import _signal  # `signal` imports enum: several ms on every run

from pybox.errors import PyboxError

FORWARDED = [_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
             _signal.SIGUSR2, _signal.SIGCONT]


def console_pair(opts):
    """With a terminal and no --console-socket, pybox itself receives and proxies the pty."""
    if opts.console_socket:
        return None
    from pybox.runtime.spec import load_bundle
    opts.config = load_bundle(opts.bundle)  # read once: create uses it too
    if not opts.config.process.terminal:
        return None
    from pybox.runtime.console import listen_socket_pair
    ours, theirs = listen_socket_pair()
    opts.console_fd = theirs.detach()
    return ours, opts.console_fd


def receive_master(sock):
    from pybox.runtime.sync import receive_fd
    try:
        return receive_fd(sock)
    finally:
        sock.close()


def unignore_interrupts():
    """A foreground run or exec (or the engine launching conmon) started with SIGINT or SIGHUP
    ignored (a script's `... &`, nohup) does not pass that on to the container's process, whose
    shell could then not trap them: runc and crun forward both (Go's signal.Notify un-ignores
    them), so their process starts with the default. A handler that does nothing (until
    forward_signals takes over): execve resets a caught signal to the default, and keeps an
    ignored one ignored."""
    for sig in (_signal.SIGINT, _signal.SIGHUP):
        if _signal.getsignal(sig) == _signal.SIG_IGN:
            _signal.signal(sig, _nothing)


def _nothing(_sig, _frame):
    pass


def forward_signals(pid):
    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    for sig in FORWARDED:
        _signal.signal(sig, forward)


def wait_for(pid, master, tee=None):
    """The init's exit status; with a terminal, its output goes to ours (and to tee(data))."""
    if master is not None:
        from pybox.runtime.console import proxy
        proxy(master, lambda: _alive(pid), tee)
    while True:
        try:
            waited, status = os.waitpid(pid, 0)
        except ChildProcessError:
            raise PyboxError("the container's init is not our child; cannot wait for it") from None
        if waited == pid:
            break
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _alive(pid):
    """True while pid runs; WNOWAIT leaves its exit status for the real wait."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False
