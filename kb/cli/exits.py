"""How a command ends: one clear line on stderr and an exit code for any KBError, no traceback.

The codes every command shares: 0 done, 1 the work failed (a feed, the store, an ingest holding
the index), 2 what the user must change (a usage or configuration error, a bad file, another
watcher holding the index), 130 stopped at once by a second Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

from kb.errors import ConfigError, KBError, WatcherRunningError

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130
T = TypeVar("T")


class Closable(Protocol):
    """What a command closes when it is done (a KnowledgeBase)."""

    def close(self) -> None: ...


def exit_code(exc: KBError) -> int:
    """USAGE for what the user must change, FAILED for any other failure."""
    return USAGE if isinstance(exc, ConfigError | WatcherRunningError) else FAILED


def fail(exc: KBError, code: int | None = None, *, note: str = "") -> int:
    """Print 'error: <exc><note>' on stderr; the exit code (code, else exit_code(exc))."""
    print(f"error: {exc}{note}", file=sys.stderr)
    return exit_code(exc) if code is None else code


def opening(make: Callable[[], T]) -> tuple[T | None, int]:
    """(make(), OK), or (None, USAGE) with the error printed: whatever fails before the work
    starts (settings, a feed list, opening the index or the store) is the user's to fix."""
    try:
        return make(), OK
    except KBError as exc:
        return None, fail(exc, USAGE)


def closing(
    resource: Closable, action: Callable[[], T], *, note: Callable[[KBError], str] | None = None
) -> tuple[T | None, int]:
    """(action(), OK), or (None, exit_code) with the error printed (and note(error) after it);
    resource is closed either way."""
    try:
        return action(), OK
    except KBError as exc:
        return None, fail(exc, note=note(exc) if note else "")
    finally:
        resource.close()
