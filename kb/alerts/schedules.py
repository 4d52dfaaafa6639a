"""Scheduled briefings: daily or weekly at a time of day (UTC), to one destination. A schedule is
due when the latest time it falls on has passed and no briefing was made for it; the briefing
covers the period since the time before (a day, or a week). After a pause only the latest
briefing is sent, not one per missed day."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from kb.errors import ConfigError

EVERY = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_AT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class BriefingSchedule:
    """A briefing sent to dest_id every day or week at `at` (HH:MM UTC; weekly: on weekday,
    0 = Monday), on a topic or all stories, in a language."""

    schedule_id: int
    dest_id: int
    every: str
    at: str
    weekday: int | None
    topic: str
    language: str
    created: datetime
    last_sent: datetime | None = None

    def latest_due(self, now: datetime) -> datetime:
        """The latest time at or before now that this schedule falls on."""
        hour, minute = (int(x) for x in self.at.split(":"))
        today = datetime.combine(now.date(), time(hour, minute), tzinfo=UTC)
        due = today if today <= now else today - timedelta(days=1)
        if self.every == "weekly" and self.weekday is not None:
            due -= timedelta(days=(due.weekday() - self.weekday) % 7)
        return due

    def due(self, now: datetime) -> datetime | None:
        """The time a briefing is due for now, or None when it was made (or the schedule is
        newer than it)."""
        latest = self.latest_due(now)
        if latest < self.created or (self.last_sent is not None and self.last_sent >= latest):
            return None
        return latest

    def next_due(self, now: datetime) -> datetime:
        """When it falls due after now."""
        return self.latest_due(now) + EVERY[self.every]

    def to_dict(self) -> dict[str, object]:
        return {
            "schedule_id": self.schedule_id,
            "dest_id": self.dest_id,
            "every": self.every,
            "at": self.at,
            "weekday": WEEKDAYS[self.weekday] if self.weekday is not None else None,
            "topic": self.topic,
            "language": self.language,
            "last_sent": self.last_sent.isoformat() if self.last_sent else None,
        }


def checked_schedule(every: str, at: str, weekday: str | int | None) -> tuple[str, str, int | None]:
    """(every, HH:MM, weekday number) as stored, or ConfigError."""
    every = every.strip().lower()
    if every not in EVERY:
        raise ConfigError(f"a briefing is sent daily or weekly, not {every!r}")
    match = _AT.fullmatch(at.strip())
    if not match:
        raise ConfigError(f"a time of day is HH:MM (UTC), not {at!r}")
    at = f"{int(match.group(1)):02d}:{match.group(2)}"
    if every == "daily":
        return every, at, None
    if isinstance(weekday, str):
        day = weekday.strip().lower()[:3]
        if day not in WEEKDAYS:
            raise ConfigError(f"a weekday is one of {', '.join(WEEKDAYS)}, not {weekday!r}")
        return every, at, WEEKDAYS.index(day)
    if weekday is None:
        return every, at, 0
    if not 0 <= weekday <= 6:
        raise ConfigError("a weekday is 0 (Monday) to 6 (Sunday)")
    return every, at, weekday
