"""Commands that take several containers act on each, print each ref done, and report failures."""

import sys

from pybox.errors import PyboxError


def for_each(refs, action, command):
    """action(store, box) for every ref; exit status 1 if any failed (each failure on one line)."""
    from pybox.engine.containers import resolve
    from pybox.engine.lifecycle import open_store
    if not refs:
        raise PyboxError(f"{command}: give at least one container")
    store = open_store()
    failed = False
    for ref in refs:
        try:
            action(store, resolve(store, ref))
            print(ref)
        except PyboxError as err:
            print(f"pybox: {command} {ref}: {err}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def one(ref):
    from pybox.engine.containers import resolve
    from pybox.engine.lifecycle import open_store
    store = open_store()
    return store, resolve(store, ref)
