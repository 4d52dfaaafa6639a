"""The watcher behind scripts/ingest.py --watch: refresh each feed when kb.schedule says it is
due, one feed at a time through KnowledgeBase.ingest, so every guarantee of an ingest holds (a
stop lands between articles with nothing half-written; a SIGKILL is repaired by the next run).

One watcher per index: the catalog's "watch" lock (an flock on <index>/watch.lock, or an
advisory lock on a PostgreSQL catalog), held for the process's life and released however it
dies. One-off ingests still run between its refreshes (they share the
ingest lock; one that meets a refresh under way fails fast, as with any other ingest). The
heartbeat, the next due time and the last refresh go to the catalog for the page.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import socket
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kb.errors import IngestRunningError, KBError, LockHeldError, WatcherRunningError
from kb.report import IngestReport
from kb.schedule import (
    HEARTBEAT_EVERY,
    FeedSchedule,
    Policy,
    WatcherBeat,
    after_failure,
    after_success,
    carry_feed_hints,
    due_time,
    format_duration,
    rebase,
)

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase

logger = logging.getLogger(__name__)

#: Seconds before a feed is tried again when another ingest holds the index (not a failure).
BUSY_RETRY = 60.0
#: The shortest nap between two looks at the schedule (seconds), so nothing can spin.
MIN_NAP = 1.0


@dataclass(frozen=True)
class Refresh:
    """One refresh of one feed: its outcome (ok, not-modified, failed, busy, stopped), what it
    changed, and when the feed is due next (and why)."""

    feed: str
    outcome: str
    finished: datetime
    next_due: datetime | None
    reason: str = ""
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    failures: int = 0
    error: str = ""

    def to_dict(self) -> dict[str, object]:
        """The refresh as plain JSON-able values (times in ISO 8601 UTC)."""
        data = asdict(self)
        data["finished"] = _iso(self.finished)
        data["next_due"] = _iso(self.next_due) if self.next_due else None
        return data

    def line(self) -> str:
        """One line for people: time, outcome, feed, counts, next due time."""
        counts = f"{self.new} new, {self.updated} updated, {self.removed} removed, "
        counts += f"{self.unchanged} unchanged" + (f", {self.failed} failed" if self.failed else "")
        after = f"; next {_iso(self.next_due)} ({self.reason})" if self.next_due else ""
        error = f": {self.error}" if self.error else ""
        return f"{_iso(self.finished)} {self.outcome} {self.feed}{error} - {counts}{after}"


class StopFlag:
    """A stop request that a signal handler may make: a flag, and a pipe that wakes a sleeper
    at once (no lock, unlike threading.Event, which a handler can deadlock on)."""

    def __init__(self) -> None:
        self._set = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def set(self) -> None:
        """Request the stop; wakes wait()."""
        self._set = True
        with contextlib.suppress(OSError):  # closed, or already holding a wake-up byte
            os.write(self._write, b"x")

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._set

    def wait(self, seconds: float) -> None:
        """Sleep up to seconds, less if a stop is requested."""
        if not self._set:
            select.select([self._read], [], [], max(seconds, 0.0))

    def close(self) -> None:
        """Release the pipe."""
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


class Watcher:
    """Keeps one knowledge base fresh: refreshes every due feed, then sleeps until the next.

    feeds: the feed list, asked again on every round (default: the index's feeds.txt, so a
    feed added on the page is picked up); on_refresh hears of every refresh, on_start once the
    index is held; clock, sleep and rand are the seams tests replace."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        feeds: Callable[[], list[str]] | None = None,
        policy: Policy | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], object] | None = None,
        rand: Callable[[], float] | None = None,
        on_refresh: Callable[[Refresh], None] | None = None,
        on_start: Callable[[], None] | None = None,
        backfill: int = 1,
    ) -> None:
        self.kb = kb
        self.policy = policy or Policy()
        self.backfill = backfill
        self._feeds = feeds or kb.feeds
        self._clock = clock or kb.clock
        self._stop = StopFlag()
        self._sleep = sleep or self._stop.wait
        self._rand = rand or random.random
        self._on_refresh = on_refresh or (lambda refresh: None)
        self._on_start = on_start or (lambda: None)
        self._beat: WatcherBeat | None = None
        self._published: datetime | None = None  # the next_refresh last written

    def stop(self) -> None:
        """Ask the watcher to stop: between articles during a refresh, at once when asleep.
        Safe from a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether stop() was called."""
        return self._stop.is_set()

    def run(self) -> None:
        """Refresh feeds as they fall due until stop(); WatcherRunningError when another
        watcher holds the index."""
        try:
            with self._lock():
                now = self._clock()
                self._write_beat(WatcherBeat(os.getpid(), socket.gethostname(), now, now))
                self._on_start()
                try:
                    while not self._stop.is_set():
                        self._rest(self._deliver(self._refresh_due()))
                finally:
                    self.kb.catalog.set_watcher_beat(None)
        finally:
            self._stop.close()

    def _lock(self) -> ExitStack[bool | None]:
        """The index's watcher lock (the catalog's: an flock on <index>/watch.lock, or an
        advisory lock on the PostgreSQL server); WatcherRunningError when another holds it."""
        lock = ExitStack()
        try:
            lock.enter_context(self.kb.catalog.exclusive("watch"))
        except LockHeldError as exc:
            beat = self.kb.catalog.watcher_beat()
            pid = exc.pid or (beat.pid if beat is not None else None)
            host = (
                f" on {beat.host}" if beat is not None and beat.host != socket.gethostname() else ""
            )
            raise WatcherRunningError(
                f"a watcher (pid {pid or 'unknown'}{host}) already keeps {self.kb.where} fresh; "
                "stop it first" + (f" (kill {pid})" if pid and not host else ""),
                pid=pid,
            ) from None
        return lock

    def _refresh_due(self) -> datetime | None:
        """Refresh every feed due now, most overdue first, each once; the next due time."""
        sources = self._feeds()
        now = self._clock()
        due = self._due_times(sources, now)
        for source in sorted((s for s in sources if due[s] <= now), key=lambda s: (due[s], s)):
            if self._stop.is_set():
                break
            self._refresh(source)
        upcoming = min(self._due_times(sources, self._clock()).values(), default=None)
        if upcoming is not None and upcoming != self._published:
            self.kb.catalog.set_meta("next_refresh", upcoming.isoformat())
            self._published = upcoming
        return upcoming

    def _deliver(self, upcoming: datetime | None) -> datetime | None:
        """Send the alerts and scheduled briefings due (kb.alerts: each message stays in the
        outbox until sent); the next due time, of a feed or a message. A failure here is
        logged and never stops the refreshes."""
        try:
            delivery = self.kb.deliver(now=self._clock())
            if delivery.sent or delivery.retrying or delivery.failed:
                logger.info(
                    "messages: %d sent, %d to retry, %d failed",
                    delivery.sent,
                    delivery.retrying,
                    delivery.failed,
                )
            later = self.kb.next_delivery()
        except Exception:  # delivery must never stop the refreshes
            logger.exception("sending alerts and briefings failed; the refreshes go on")
            return upcoming
        if later is None:
            return upcoming
        return min(later, upcoming) if upcoming else later

    def _due_times(self, sources: list[str], now: datetime) -> dict[str, datetime]:
        """When each feed is due; a feed never scheduled is due now. A schedule the clock went
        back behind is counted again from now (and saved so)."""
        schedules = self.kb.catalog.schedules()
        times: dict[str, datetime] = {}
        for source in sources:
            schedule = schedules.get(source)
            if schedule is None:
                times[source] = now
                continue
            rebased = rebase(schedule, now)
            if rebased != schedule:
                logger.warning("the clock went back: %s counted again from now", source)
                self.kb.catalog.save_schedule(rebased)
            times[source] = due_time(rebased, self.policy)
        return times

    def _refresh(self, source: str) -> None:
        """One feed through the normal ingest; its schedule saved, its line reported."""
        previous = self.kb.catalog.schedules().get(source)
        try:
            report = self.kb.ingest(
                [source], progress=self._progress, backfill=self.backfill, stop=self._stop.is_set
            )
        except IngestRunningError as exc:
            self._record(self._busy(source, previous), "busy", error=str(exc))
            return
        except KBError as exc:  # e.g. a feed file that is gone: a failure like any other
            logger.info("refresh of %s failed: %s", source, exc)
            self._record(self._failed(source, previous, None), "failed", error=str(exc))
            return
        if report.interrupted:  # the feed stays due: the next start reads the rest
            due = due_time(previous, self.policy) if previous else self._clock()
            self._on_refresh(_refresh_of(source, "stopped", self._clock(), due, "due", report))
            return
        result = report.feeds[0]
        if not result.ok:
            schedule = self._failed(source, previous, result.hints.retry_after)
            self._record(schedule, "failed", report, error=result.error)
            return
        hints = result.hints
        if result.not_modified and previous is not None:
            hints = carry_feed_hints(hints, previous.hints)
        schedule = after_success(
            source, hints, now=self._clock(), policy=self.policy, rand=self._rand()
        )
        self._record(schedule, "not-modified" if result.not_modified else "ok", report)

    def _failed(
        self, source: str, previous: FeedSchedule | None, retry_after: float | None
    ) -> FeedSchedule:
        return after_failure(
            source,
            previous,
            retry_after=retry_after,
            now=self._clock(),
            policy=self.policy,
            rand=self._rand(),
        )

    def _busy(self, source: str, previous: FeedSchedule | None) -> FeedSchedule:
        """Another ingest holds the index: try again soon, without counting a failure."""
        now = self._clock()
        interval = self.policy.clamp(self.policy.default)
        base = previous or FeedSchedule(source, interval, "", now, now)
        return replace(
            base,
            reason="another ingest holds the index",
            last_attempt=now,
            next_due=now + timedelta(seconds=BUSY_RETRY),
        )

    def _record(
        self,
        schedule: FeedSchedule,
        outcome: str,
        report: IngestReport | None = None,
        *,
        error: str = "",
    ) -> None:
        """Save a feed's new schedule and report its refresh."""
        self.kb.catalog.save_schedule(schedule)
        reason = f"{schedule.reason}; every {format_duration(schedule.interval)}"
        refresh = _refresh_of(
            schedule.url, outcome, schedule.last_attempt, schedule.next_due, reason, report
        )
        self._on_refresh(replace(refresh, failures=schedule.failures, error=error))

    def _rest(self, upcoming: datetime | None) -> None:
        """Sleep towards the next due time in naps of at most HEARTBEAT_EVERY, beating after
        each, so the page sees a live watcher and a jumped clock is noticed within a nap."""
        wait = (upcoming - self._clock()).total_seconds() if upcoming else HEARTBEAT_EVERY
        self._sleep(min(max(wait, MIN_NAP), HEARTBEAT_EVERY))
        self._heartbeat()

    def _progress(self, stage: str, done: int, total: int) -> None:
        self._heartbeat()  # a long refresh beats too

    def _heartbeat(self) -> None:
        now = self._clock()
        if self._beat is not None and (
            abs((now - self._beat.heartbeat).total_seconds()) >= HEARTBEAT_EVERY
        ):
            self._write_beat(replace(self._beat, heartbeat=now))

    def _write_beat(self, beat: WatcherBeat) -> None:
        self._beat = beat
        self.kb.catalog.set_watcher_beat(beat)


def _refresh_of(
    feed: str,
    outcome: str,
    finished: datetime,
    next_due: datetime,
    reason: str,
    report: IngestReport | None,
) -> Refresh:
    counts = report or IngestReport()
    return Refresh(
        feed=feed,
        outcome=outcome,
        finished=finished,
        next_due=next_due,
        reason=reason,
        new=counts.new,
        updated=counts.updated,
        unchanged=counts.unchanged,
        failed=counts.failed,
        removed=counts.removed,
    )


def _iso(moment: datetime) -> str:
    """ISO 8601 UTC to the second, with a Z."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
