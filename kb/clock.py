"""Time as a seam: the wall clock, the interval clock and sleeping, behind one small protocol.

Code whose behaviour depends on time (retries and their backoff, Retry-After, the per-host
delay, a body's total deadline, how often an ingest publishes) takes a Clock with SYSTEM_CLOCK
as its default, so a test can hand it a fake one that moves only when asked, instead of waiting
real seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What kb reads of time, and how it waits."""

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware in UTC (dates written and compared)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never jump (intervals and deadlines)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait seconds."""
        ...


class SystemClock:
    """The real time: datetime.now(UTC), time.monotonic() and time.sleep()."""

    def now(self) -> datetime:
        """datetime.now(UTC)."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """time.sleep(seconds)."""
        time.sleep(seconds)


#: The clock every seam defaults to.
SYSTEM_CLOCK: Clock = SystemClock()
