"""A briefing's period as people write it: a date, a date and time, or a span back from now
(24h, 7d, 2w)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

_SPAN = re.compile(r"(\d+)\s*([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def moment(value: str, *, now: datetime, end: bool = False) -> datetime:
    """A point in time from the command line: a span back from now ('7d'), a date (its start,
    or its end with end=True) or an ISO date-time (UTC when it names no zone)."""
    text = value.strip().lower()
    if span := _SPAN.fullmatch(text):
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not a date, a date-time or a span like 24h, 7d, 2w: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
