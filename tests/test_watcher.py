"""kb.watcher in-process: the watch loop over the fixture server's feeds with a fake clock and a
fake sleep (hours of schedule in seconds), each feed refreshed on its own schedule; clock jumps,
dead feeds, Retry-After, a 304, a busy index, a stop mid-refresh, the one-watcher lock and the
status the page reads."""

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from server import FixtureServer

from kb import KnowledgeBase, RefreshStatus, WatcherRunningError
from kb.schedule import Policy, WatcherBeat
from kb.watcher import Refresh, Watcher

START = datetime(2026, 1, 27, 6, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when the watcher sleeps (or a test jumps it)."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps = 0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=seconds)


def watch(
    kb: KnowledgeBase,
    feeds: list[str],
    *,
    hours: float,
    policy: Policy | None = None,
    on_sleep: Callable[[FakeClock, Watcher], None] | None = None,
    started: list[Watcher] | None = None,
) -> list[Refresh]:
    """Run a watcher over feeds for `hours` of fake time; every refresh it reported (started:
    gets the watcher)."""
    clock = FakeClock()
    kb.clock = clock
    refreshes: list[Refresh] = []
    end = START + timedelta(hours=hours, minutes=1)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if on_sleep is not None:
            on_sleep(clock, watcher)
        if clock.now >= end:
            watcher.stop()

    watcher = Watcher(
        kb,
        feeds=lambda: feeds,
        policy=policy,
        clock=clock,
        sleep=sleep,
        rand=lambda: 0.5,  # no jitter: exact times to assert
        on_refresh=refreshes.append,
    )
    if started is not None:
        started.append(watcher)
    watcher.run()
    return refreshes


def minutes_of(refreshes: list[Refresh], feed: str, since: datetime = START) -> list[float]:
    """When a feed was refreshed, in minutes after `since`."""
    return [(r.finished - since).total_seconds() / 60 for r in refreshes if r.feed == feed]


def test_each_feed_is_refreshed_on_its_own_schedule(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    ttl = server.url("/schedule/every-45?ttl=45")
    hourly = server.url("/schedule/hourly?period=hourly&frequency=1")
    cached = server.url("/schedule/cached-20?max-age=1200")
    refreshes = watch(fake_kb, [ttl, hourly, cached], hours=3)
    assert minutes_of(refreshes, ttl) == [0, 45, 90, 135, 180]
    assert minutes_of(refreshes, hourly) == [0, 60, 120, 180]
    assert minutes_of(refreshes, cached) == [20 * i for i in range(10)]
    assert {r.outcome for r in refreshes} == {"ok"}
    first, later = refreshes[0], [r for r in refreshes if r.finished > START]
    assert (first.new, first.unchanged) == (2, 0)
    assert {(r.new, r.updated, r.removed, r.unchanged) for r in later} == {(0, 0, 0, 2)}
    assert {r.feed: r.reason for r in refreshes[:3]} == {
        ttl: "ttl 45 min; every 45 min",
        hourly: "sy hourly; every 1 h",
        cached: "cache; every 20 min",
    }
    assert fake_kb.stats().articles == 6
    schedules = fake_kb.catalog.schedules()
    assert schedules[ttl].next_due == START + timedelta(minutes=225)
    assert schedules[hourly].interval == 3600.0


def test_a_floor_and_a_ceiling_bound_absurd_ttls(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    zero = server.url("/schedule/ttl-zero?ttl=0")
    decade = server.url(f"/schedule/ttl-decade?ttl={10 * 365 * 24 * 60}")
    garbage = server.url("/schedule/ttl-garbage?ttl=soon")
    policy = Policy(floor=30 * 60, ceiling=2 * 3600)
    refreshes = watch(fake_kb, [zero, decade, garbage], hours=4, policy=policy)
    assert minutes_of(refreshes, zero) == [30 * i for i in range(9)]
    assert minutes_of(refreshes, decade) == [0, 120, 240]
    assert minutes_of(refreshes, garbage) == [0, 60, 120, 180, 240]  # no hint: the default


def test_a_dead_feed_backs_off_up_to_the_ceiling(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    dead = server.url("/schedule/dead?status=404")
    refreshes = watch(fake_kb, [dead], hours=72)
    hours = [m / 60 for m in minutes_of(refreshes, dead)]
    assert hours == [0, 1, 3, 7, 15, 31, 55]  # waits of 1, 2, 4, 8, 16 h, then the 24 h ceiling
    assert [r.failures for r in refreshes] == [1, 2, 3, 4, 5, 6, 7]
    assert {r.outcome for r in refreshes} == {"failed"}
    assert "HTTP 404" in refreshes[0].error


def test_retry_after_is_honoured(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    busy = server.url("/schedule/later?status=503&retry-after=7200")
    refreshes = watch(fake_kb, [busy], hours=5)
    assert minutes_of(refreshes, busy) == [0, 120, 240]
    assert refreshes[0].reason.startswith("Retry-After 7200 s")


def test_a_304_keeps_the_feeds_ttl(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    cached = server.url("/schedule/etagged?etag=v1&ttl=90")
    refreshes = watch(fake_kb, [cached], hours=3)
    assert minutes_of(refreshes, cached) == [0, 90, 180]
    assert [r.outcome for r in refreshes] == ["ok", "not-modified", "not-modified"]


def test_a_clock_that_jumps_back_neither_storms_nor_stalls(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    ttl = server.url("/schedule/back-45?ttl=45")
    hourly = server.url("/schedule/back-hourly?period=hourly")

    def jump_back(clock: FakeClock, watcher: Watcher) -> None:
        if clock.now == START + timedelta(minutes=10) and not jumped:
            jumped.append(clock.now)
            clock.now -= timedelta(days=1)
        elif jumped and clock.now > back + timedelta(hours=2, minutes=1):
            watcher.stop()

    jumped: list[datetime] = []
    back = START - timedelta(days=1) + timedelta(minutes=10)
    refreshes = watch(fake_kb, [ttl, hourly], hours=100, on_sleep=jump_back)
    assert minutes_of(refreshes, ttl, since=back) == [24 * 60 - 10, 45, 90]
    assert minutes_of(refreshes, hourly, since=back) == [24 * 60 - 10, 60, 120]


def test_a_clock_that_jumps_forward_refreshes_each_overdue_feed_once(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    feeds = [server.url(f"/schedule/forward-{n}?ttl={n}") for n in (20, 30, 45)]

    def jump_forward(clock: FakeClock, watcher: Watcher) -> None:
        if clock.now == START + timedelta(minutes=10):
            clock.now += timedelta(days=3)
        elif clock.now > START + timedelta(days=3, minutes=11):
            watcher.stop()

    refreshes = watch(fake_kb, feeds, hours=100, on_sleep=jump_forward)
    for feed in feeds:
        assert minutes_of(refreshes, feed) == [0, 3 * 24 * 60 + 10]  # once each at the jump


def test_another_ingest_holding_the_index_is_no_failure(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    feed = server.url("/schedule/contended?ttl=60")
    holder = KnowledgeBase(fake_kb.settings, embedder=fake_kb.embedder)
    lock = holder._ingest_lock()
    lock.__enter__()

    def release(clock: FakeClock, watcher: Watcher) -> None:
        if clock.now == START + timedelta(seconds=30):
            lock.__exit__(None, None, None)

    try:
        refreshes = watch(fake_kb, [feed], hours=1.5, on_sleep=release)
    finally:
        holder.close()
    assert [(r.outcome, r.failures) for r in refreshes] == [("busy", 0), ("ok", 0), ("ok", 0)]
    assert "another ingest is running" in refreshes[0].error
    assert minutes_of(refreshes, feed) == [0, 1, 61]


def test_a_stop_mid_refresh_leaves_the_feed_due_for_the_next_run(
    fake_kb: KnowledgeBase, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = server.url("/schedule/interrupted?ttl=60")
    ingest = fake_kb.ingest
    watchers: list[Watcher] = []

    def sigterm_after_one_article(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        def progress(stage: str, done: int, total: int) -> None:
            if stage == "articles":  # after the first article: what SIGTERM's handler calls
                watchers[0].stop()

        return ingest(*args, **{**kwargs, "progress": progress})  # type: ignore[arg-type]

    monkeypatch.setattr(fake_kb, "ingest", sigterm_after_one_article)
    refreshes = watch(fake_kb, [feed], hours=10, started=watchers)
    assert [(r.outcome, r.new) for r in refreshes] == [("stopped", 1)]
    assert fake_kb.catalog.pending_articles() == []
    assert feed not in fake_kb.catalog.schedules()  # still due
    monkeypatch.setattr(fake_kb, "ingest", ingest)
    again = watch(fake_kb, [feed], hours=0)
    assert [(r.outcome, r.new, r.unchanged) for r in again] == [("ok", 1, 1)]
    assert fake_kb.stats().articles == 2


def test_a_feed_list_change_is_picked_up(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    first = server.url("/schedule/listed-first?ttl=60")
    added = server.url("/schedule/listed-added?ttl=60")
    feeds = [first]

    def add(clock: FakeClock, watcher: Watcher) -> None:
        if clock.now == START + timedelta(minutes=30):
            feeds.append(added)

    refreshes = watch(fake_kb, feeds, hours=1, on_sleep=add)
    assert minutes_of(refreshes, first) == [0, 60]
    assert minutes_of(refreshes, added) == [30]


def test_a_refresh_as_a_line_and_as_json() -> None:
    refresh = Refresh(
        feed="https://a/feed",
        outcome="ok",
        finished=START.replace(microsecond=5),
        next_due=START + timedelta(minutes=45),
        reason="ttl 45 min; every 45 min",
        new=2,
        unchanged=3,
    )
    assert refresh.line() == (
        "2026-01-27T06:00:00Z ok https://a/feed - 2 new, 0 updated, 0 removed, 3 unchanged; "
        "next 2026-01-27T06:45:00Z (ttl 45 min; every 45 min)"
    )
    failed = replace(refresh, outcome="failed", error="HTTP 404 for https://a/feed", failed=1)
    assert failed.line().startswith("2026-01-27T06:00:00Z failed https://a/feed: HTTP 404 for ")
    assert ", 1 failed; next" in failed.line()
    data = json.loads(json.dumps(refresh.to_dict()))
    assert data["finished"] == "2026-01-27T06:00:00Z"
    assert data["next_due"] == "2026-01-27T06:45:00Z"
    assert (data["feed"], data["outcome"], data["new"], data["removed"]) == (
        "https://a/feed",
        "ok",
        2,
        0,
    )


# --- one watcher per index, and its status ---------------------------------------------------
def test_a_second_watcher_on_the_same_index_is_refused(fake_kb: KnowledgeBase) -> None:
    first, second = Watcher(fake_kb), Watcher(fake_kb)
    with first._lock(), pytest.raises(WatcherRunningError) as refused:
        second._lock()
    assert refused.value.pid == os.getpid()
    assert f"pid {os.getpid()}" in str(refused.value)
    assert "already keeps" in str(refused.value)
    with second._lock():  # released: the next one takes over
        lock_file = fake_kb.settings.index_dir / "watch.lock"
        assert lock_file.read_text() == f"{os.getpid()}\n"


def test_a_lock_file_left_by_a_dead_watcher_does_not_block(fake_kb: KnowledgeBase) -> None:
    lock_file = fake_kb.settings.index_dir / "watch.lock"
    lock_file.write_text("999999999\n")  # no flock: its holder is gone
    with Watcher(fake_kb)._lock():
        assert lock_file.read_text() == f"{os.getpid()}\n"


def test_the_status_while_a_watcher_runs_and_after(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    feed = server.url("/schedule/status?ttl=30")
    assert fake_kb.refresh_status() == RefreshStatus(None, None, False, None)
    seen: list[RefreshStatus] = []

    def look(clock: FakeClock, watcher: Watcher) -> None:
        if clock.now == START + timedelta(minutes=5):
            seen.append(fake_kb.refresh_status())

    watch(fake_kb, [feed], hours=1, on_sleep=look)
    [during] = seen
    assert (during.watcher_running, during.watcher_pid) == (True, os.getpid())
    assert during.next_refresh == START + timedelta(minutes=30)
    assert during.last_refresh is not None
    after = fake_kb.refresh_status()
    assert (after.watcher_running, after.watcher_pid) == (False, None)
    assert after.next_refresh == START + timedelta(minutes=90)


def test_the_heartbeat_is_written_at_least_every_30_seconds(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    beats: list[datetime] = []

    def look(clock: FakeClock, watcher: Watcher) -> None:
        beat = fake_kb.catalog.watcher_beat()
        assert beat is not None
        beats.append(beat.heartbeat)
        assert clock.now - beat.heartbeat <= timedelta(seconds=30)

    watch(fake_kb, [server.url("/schedule/beating?ttl=60")], hours=0.5, on_sleep=look)
    assert len(set(beats)) >= 55


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("age", "pid", "running"),
    [(10, os.getpid(), True), (300, os.getpid(), False), (10, None, False)],
)
def test_a_stale_or_dead_watchers_heartbeat_is_ignored(
    fake_kb: KnowledgeBase, age: float, pid: int | None, running: bool
) -> None:
    now = datetime.now(UTC)
    fake_kb.clock = lambda: now
    beat = WatcherBeat(pid or dead_pid(), os.uname().nodename, now, now - timedelta(seconds=age))
    fake_kb.catalog.set_watcher_beat(beat)
    status = fake_kb.refresh_status()
    assert (status.watcher_running, status.watcher_pid) == (running, beat.pid if running else None)
