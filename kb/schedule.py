"""When to read each feed again: its own hints (RSS <ttl>, sy:updatePeriod/sy:updateFrequency,
HTTP Cache-Control max-age or Expires, Retry-After) kept between a floor and a ceiling, with
jitter and exponential backoff; and whether a watcher is keeping an index fresh.

Pure: the time, the randomness and the process checks come in as arguments, so tests run hours
of schedule on a fake clock. kb.watcher runs the loop; the catalog stores a FeedSchedule a feed.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kb.errors import ConfigError

if TYPE_CHECKING:
    from kb.feeds import Feed

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
#: sy:updatePeriod values (RSS 1.0 Syndication module) in seconds.
PERIODS = {
    "hourly": HOUR,
    "daily": DAY,
    "weekly": 7 * DAY,
    "monthly": 30 * DAY,
    "yearly": 365 * DAY,
}
#: A watcher writes its heartbeat at least this often (seconds), also while it sleeps...
HEARTBEAT_EVERY = 30.0
#: ...and counts as gone once its heartbeat is this old (seconds).
STALE_AFTER = 120.0
_NUMBER = re.compile(r"\d+(\.\d+)?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": MINUTE, "h": HOUR, "d": DAY}


@dataclass(frozen=True)
class Hints:
    """What a feed and its server said about how often to read it: the feed's own text as
    given, the HTTP lifetimes as computed seconds (None: not said)."""

    ttl: str = ""
    update_period: str = ""
    update_frequency: str = ""
    #: Cache-Control max-age minus Age, else Expires minus Date.
    cache_seconds: float | None = None
    retry_after: float | None = None

    def to_json(self) -> str:
        """The hints as a JSON object (how the catalog stores them)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Hints:
        """Hints from to_json() text; no hints for anything unreadable."""
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        said = {k: str(data.get(k) or "") for k in ("ttl", "update_period", "update_frequency")}
        return cls(
            **said,
            cache_seconds=_seconds(data.get("cache_seconds")),
            retry_after=_seconds(data.get("retry_after")),
        )


@dataclass(frozen=True)
class Policy:
    """The bounds a feed's interval is kept in (seconds), the interval without any hint, and
    how far each delay is jittered (a fraction, so feeds do not all fire together)."""

    floor: float = 15 * MINUTE
    ceiling: float = 24 * HOUR
    default: float = HOUR
    jitter: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling or not math.isfinite(self.ceiling):
            raise ConfigError(
                f"the interval floor ({self.floor:g} s) must be positive and at most the "
                f"ceiling ({self.ceiling:g} s)"
            )
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"jitter must be a fraction below 1, not {self.jitter!r}")

    def clamp(self, seconds: float) -> float:
        """seconds kept within [floor, ceiling]."""
        return min(self.ceiling, max(self.floor, seconds))


@dataclass(frozen=True)
class FeedSchedule:
    """When a feed was last tried and is next due; interval is its own interval (clamped, before
    jitter and backoff) and reason the hint that set it ("ttl 45 min", "default")."""

    url: str
    interval: float
    reason: str
    last_attempt: datetime
    next_due: datetime
    failures: int = 0
    hints: Hints = field(default_factory=Hints)


@dataclass(frozen=True)
class WatcherBeat:
    """A watcher's heartbeat: who it is and when it last said it is alive."""

    pid: int
    host: str
    started: datetime
    heartbeat: datetime


@dataclass(frozen=True)
class RefreshStatus:
    """How fresh an index is: the end of the last refresh, the earliest next one a watcher
    planned, and whether a watcher is running now (its pid if so)."""

    last_refresh: datetime | None
    next_refresh: datetime | None
    watcher_running: bool
    watcher_pid: int | None


# --- hints ----------------------------------------------------------------------------------
def ttl_seconds(text: str) -> float | None:
    """An RSS <ttl> (minutes) in seconds; None for anything but a plain non-negative number."""
    text = text.strip()
    return float(text) * MINUTE if _NUMBER.fullmatch(text) else None


def syndication_seconds(period: str, frequency: str) -> float | None:
    """sy:updatePeriod / sy:updateFrequency (times per period, 1 if unreadable) in seconds;
    None without a known period."""
    base = PERIODS.get(period.strip().lower())
    if base is None:
        return None
    times = frequency.strip()
    return base / int(times) if times.isdigit() and int(times) > 0 else base


def cache_seconds(headers: Mapping[str, str], *, now: datetime) -> float | None:
    """The response's remaining lifetime: Cache-Control max-age minus Age, else Expires minus
    Date (or now). None when it says nothing useful: no header, or a zero or past lifetime,
    which dynamic sites send by default and which says nothing about the feed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    directives = [d.strip().lower() for d in lowered.get("cache-control", "").split(",")]
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().strip('"').isdigit():
            age = lowered.get("age", "").strip()
            left = float(value.strip().strip('"')) - (float(age) if age.isdigit() else 0.0)
            return left if left > 0 else None
    expires = _http_date(lowered.get("expires", ""))
    if expires is None:
        return None
    left = (expires - (_http_date(lowered.get("date", "")) or now)).total_seconds()
    return left if left > 0 else None


def hints_from(feed: Feed | None, headers: Mapping[str, str], *, now: datetime) -> Hints:
    """The hints of one read: the feed's (None for a 304, which has no body) and the HTTP
    response's."""
    return Hints(
        ttl=feed.ttl if feed else "",
        update_period=feed.update_period if feed else "",
        update_frequency=feed.update_frequency if feed else "",
        cache_seconds=cache_seconds(headers, now=now),
    )


def carry_feed_hints(new: Hints, old: Hints) -> Hints:
    """A 304's hints: its HTTP lifetime, with the feed's own hints of the last full read."""
    return replace(
        new, ttl=old.ttl, update_period=old.update_period, update_frequency=old.update_frequency
    )


def interval_for(hints: Hints, policy: Policy) -> tuple[float, str]:
    """A feed's own interval (clamped) and the hint that set it: the longest of those given
    (each means "not more often than"), else the policy's default."""
    said: list[tuple[float, str]] = []
    if (ttl := ttl_seconds(hints.ttl)) is not None:
        said.append((ttl, f"ttl {hints.ttl.strip()} min"))
    if (sy := syndication_seconds(hints.update_period, hints.update_frequency)) is not None:
        said.append((sy, f"sy {hints.update_period.strip().lower()}"))
    if hints.cache_seconds is not None:
        said.append((hints.cache_seconds, "cache"))
    seconds, reason = max(said, default=(policy.default, "default"))
    clamped = policy.clamp(seconds)
    if clamped != seconds:
        reason += ", floor" if clamped > seconds else ", ceiling"
    return clamped, reason


# --- next due -------------------------------------------------------------------------------
def jittered(seconds: float, policy: Policy, rand: float) -> float:
    """seconds moved by up to ±policy.jitter (rand in [0, 1)), kept within the bounds."""
    return policy.clamp(seconds * (1 + policy.jitter * (2 * rand - 1)))


def after_success(
    url: str, hints: Hints, *, now: datetime, policy: Policy, rand: float
) -> FeedSchedule:
    """The schedule after a good read: due again after its own interval, jittered."""
    interval, reason = interval_for(hints, policy)
    delay = jittered(interval, policy, rand)
    return FeedSchedule(url, interval, reason, now, now + timedelta(seconds=delay), 0, hints)


def after_failure(
    url: str,
    previous: FeedSchedule | None,
    *,
    retry_after: float | None,
    now: datetime,
    policy: Policy,
    rand: float,
) -> FeedSchedule:
    """The schedule after a failed read: the feed's interval doubled per failure after the
    first (bounded by the ceiling), and never before its Retry-After (itself capped at the
    ceiling, so a hostile header cannot silence a feed for good)."""
    failures = (previous.failures if previous else 0) + 1
    interval = previous.interval if previous else policy.clamp(policy.default)
    delay = jittered(interval * 2 ** min(failures - 1, 32), policy, rand)
    reason = f"backoff after {failures} failure{'s' * (failures > 1)}"
    if retry_after is not None and retry_after > delay:
        delay, reason = min(retry_after, policy.ceiling), f"Retry-After {retry_after:.0f} s"
    hints = previous.hints if previous else Hints()
    return FeedSchedule(url, interval, reason, now, now + timedelta(seconds=delay), failures, hints)


def due_time(schedule: FeedSchedule, policy: Policy) -> datetime:
    """When a feed is due: its planned time, but never later than the ceiling after its last
    attempt (a lower --max-interval takes effect at once)."""
    return min(schedule.next_due, schedule.last_attempt + timedelta(seconds=policy.ceiling))


def rebase(schedule: FeedSchedule, now: datetime) -> FeedSchedule:
    """The schedule after the clock went back before its last attempt: counted from now, with
    the delay it had, so the watcher neither storms nor waits for the old time to come back."""
    if schedule.last_attempt <= now:
        return schedule
    return replace(
        schedule, last_attempt=now, next_due=now + (schedule.next_due - schedule.last_attempt)
    )


# --- watcher status -------------------------------------------------------------------------
def watcher_alive(
    beat: WatcherBeat,
    *,
    now: datetime,
    host: str | None = None,
    pid_alive: Callable[[int], bool] | None = None,
) -> bool:
    """Whether a heartbeat is a live watcher's: younger than STALE_AFTER (either way, in case a
    clock jumped) and, on this host, its process still exists."""
    if abs((now - beat.heartbeat).total_seconds()) >= STALE_AFTER:
        return False
    if beat.host != (host if host is not None else socket.gethostname()):
        return True
    return (pid_alive or process_exists)(beat.pid)


def process_exists(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


# --- durations ------------------------------------------------------------------------------
def parse_duration(text: str) -> float:
    """Seconds from '900', '90s', '15m', '1.5h' or '1d'; ConfigError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 900, 90s, 15m, 24h or 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """A short human duration: '45 s', '15 min', '1.5 h', '2 d'."""
    for unit, size in (("d", DAY), ("h", HOUR), ("min", MINUTE)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.0f} s"


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _http_date(value: str) -> datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
