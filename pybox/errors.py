"""The one error type pybox raises for anything a user can cause or fix."""


class PyboxError(Exception):
    """A failure with a message, an optional errno and the steps that were running.

    The CLI renders it as one line: "create abc: mount /proc: Operation not permitted".
    """

    def __init__(self, message, errno=None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.context = []

    def within(self, step):
        """Name the step that was running; the outermost step ends up first."""
        self.context.insert(0, step)
        return self

    def __str__(self):
        return ": ".join([*self.context, self.message])


def from_oserror(err, step):
    """Turn an OSError from a kernel call into a PyboxError naming the step."""
    reason = err.strerror or str(err)
    return PyboxError(f"{step}: {reason}", err.errno)
