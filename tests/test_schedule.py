"""kb.schedule: a feed's interval from its hints, the next due time after a success or a
failure, jitter and backoff bounds, clock jumps, heartbeats and durations; plain values only."""

from datetime import UTC, datetime, timedelta

import pytest

from kb.errors import ConfigError
from kb.feeds import parse_feed
from kb.schedule import (
    DAY,
    HOUR,
    MINUTE,
    FeedSchedule,
    Hints,
    Policy,
    WatcherBeat,
    after_failure,
    after_success,
    cache_seconds,
    carry_feed_hints,
    due_time,
    format_duration,
    hints_from,
    interval_for,
    jittered,
    parse_duration,
    rebase,
    syndication_seconds,
    ttl_seconds,
    watcher_alive,
)

NOW = datetime(2026, 1, 27, 12, 0, tzinfo=UTC)
POLICY = Policy()  # 15 min .. 24 h, 1 h default, 5 % jitter
NO_JITTER = 0.5  # rand() of 0.5 moves nothing


def interval(**hints: object) -> tuple[float, str]:
    return interval_for(Hints(**hints), POLICY)  # type: ignore[arg-type]


# --- reading hints --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 1800.0), (" 45 ", 2700.0), ("0", 0.0), ("1.5", 90.0), ("5256000", 5256000 * 60.0)],
)
def test_ttl_is_minutes(text: str, seconds: float) -> None:
    assert ttl_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "30 minutes", "1e3", "NaN", "inf", "½", "0x10"])
def test_a_garbage_ttl_is_no_hint(text: str) -> None:
    assert ttl_seconds(text) is None
    assert interval(ttl=text) == (HOUR, "default")


@pytest.mark.parametrize(
    ("period", "frequency", "seconds"),
    [
        ("hourly", "1", HOUR),
        ("hourly", "2", HOUR / 2),
        (" Daily ", "", DAY),
        ("daily", "4", DAY / 4),
        ("weekly", "0", 7 * DAY),  # zero times a period is nonsense: once
        ("monthly", "often", 30 * DAY),
        ("yearly", "-1", 365 * DAY),
    ],
)
def test_syndication_period_divided_by_frequency(
    period: str, frequency: str, seconds: float
) -> None:
    assert syndication_seconds(period, frequency) == seconds


@pytest.mark.parametrize("period", ["", "fortnightly", "1", "hour"])
def test_an_unknown_syndication_period_is_no_hint(period: str) -> None:
    assert syndication_seconds(period, "1") is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Cache-Control": "public, max-age=1800"}, 1800.0),
        ({"cache-control": 'max-age="600"', "Age": "100"}, 500.0),
        ({"Cache-Control": "max-age=1200", "Expires": "Tue, 27 Jan 2026 20:00:00 GMT"}, 1200.0),
        ({"Expires": "Tue, 27 Jan 2026 13:30:00 GMT"}, 5400.0),  # minus now
        (
            {"Expires": "Tue, 27 Jan 2026 10:40:00 GMT", "Date": "Tue, 27 Jan 2026 10:00:00 GMT"},
            2400.0,  # minus the server's Date: its clock, not ours
        ),
        ({"Cache-Control": "no-cache, max-age=0"}, None),  # what dynamic sites send: no hint
        ({"Cache-Control": "max-age=60", "Age": "90"}, None),
        ({"Expires": "0"}, None),
        ({"Expires": "Thu, 19 Nov 1981 08:52:00 GMT"}, None),
        ({"Cache-Control": "max-age=soon"}, None),
        ({}, None),
    ],
)
def test_http_lifetime(headers: dict[str, str], seconds: float | None) -> None:
    assert cache_seconds(headers, now=NOW) == seconds


def test_hints_from_a_parsed_feed_and_its_headers() -> None:
    feed = parse_feed(
        b'<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
        b"<channel><title>T</title><ttl>30</ttl><sy:updatePeriod>\n hourly\t</sy:updatePeriod>"
        b"<sy:updateFrequency> 2 </sy:updateFrequency><item><title>a</title></item>"
        b"</channel></rss>",
        url="https://feeds.example/",
    )
    hints = hints_from(feed, {"cache-control": "max-age=300"}, now=NOW)
    assert hints == Hints("30", "hourly", "2", 300.0)
    assert hints_from(None, {}, now=NOW) == Hints()  # a 304 has no body


def test_a_304_keeps_the_feeds_own_hints_of_the_last_full_read() -> None:
    old = Hints(ttl="90", update_period="daily", cache_seconds=60.0)
    new = Hints(cache_seconds=120.0)
    assert carry_feed_hints(new, old) == Hints(ttl="90", update_period="daily", cache_seconds=120.0)


def test_hints_round_trip_through_json_and_survive_garbage() -> None:
    hints = Hints("30", "hourly", "1", 600.0, 120.0)
    assert Hints.from_json(hints.to_json()) == hints
    for text in (None, "", "not json", "[1, 2]", "null"):
        assert Hints.from_json(text) == Hints()
    odd = Hints.from_json('{"ttl": 30, "cache_seconds": "600", "retry_after": 5, "bogus": 1}')
    assert odd == Hints(ttl="30", retry_after=5.0)


# --- the interval ---------------------------------------------------------------------------
def test_the_longest_hint_wins() -> None:
    assert interval(ttl="45") == (45 * MINUTE, "ttl 45 min")
    assert interval(update_period="hourly", update_frequency="1") == (HOUR, "sy hourly")
    assert interval(cache_seconds=1200.0) == (1200.0, "cache")
    assert interval(ttl="45", update_period="hourly", cache_seconds=1200.0) == (HOUR, "sy hourly")
    assert interval(ttl="180", update_period="hourly") == (3 * HOUR, "ttl 180 min")


def test_no_hint_means_the_default() -> None:
    assert interval() == (HOUR, "default")
    assert interval_for(Hints(), Policy(default=10 * MINUTE)) == (15 * MINUTE, "default, floor")


@pytest.mark.parametrize(
    ("ttl", "seconds", "reason"),
    [
        ("0", 15 * MINUTE, "ttl 0 min, floor"),
        ("1", 15 * MINUTE, "ttl 1 min, floor"),
        (str(10 * 365 * 24 * 60), DAY, f"ttl {10 * 365 * 24 * 60} min, ceiling"),
        ("9" * 400, DAY, f"ttl {'9' * 400} min, ceiling"),
    ],
)
def test_absurd_ttls_are_clamped(ttl: str, seconds: float, reason: str) -> None:
    assert interval(ttl=ttl) == (seconds, reason)


def test_the_bounds_are_configurable() -> None:
    policy = Policy(floor=60.0, ceiling=600.0, default=300.0)
    assert interval_for(Hints(ttl="0"), policy) == (60.0, "ttl 0 min, floor")
    assert interval_for(Hints(update_period="daily"), policy) == (600.0, "sy daily, ceiling")
    assert interval_for(Hints(), policy) == (300.0, "default")


@pytest.mark.parametrize(
    ("floor", "ceiling", "jitter"),
    [
        (0.0, 60.0, 0.05),
        (-1.0, 60.0, 0.05),
        (120.0, 60.0, 0.05),
        (60.0, float("inf"), 0.05),
        (60.0, 120.0, 1.0),
        (60.0, 120.0, -0.1),
    ],
)
def test_a_bad_policy_is_a_config_error(floor: float, ceiling: float, jitter: float) -> None:
    reason = (
        "jitter must be a fraction below 1"
        if floor == 60.0 and ceiling == 120.0
        else ("the interval floor .* must be positive and at most the ceiling")
    )
    with pytest.raises(ConfigError, match=reason):
        Policy(floor=floor, ceiling=ceiling, jitter=jitter)


# --- jitter and the next due time -----------------------------------------------------------
def test_jitter_stays_within_a_few_percent_and_the_bounds() -> None:
    for rand in (0.0, 0.25, 0.5, 0.75, 0.999999):
        delay = jittered(HOUR, POLICY, rand)
        assert 0.95 * HOUR <= delay <= 1.05 * HOUR
    assert jittered(HOUR, POLICY, 0.0) == pytest.approx(0.95 * HOUR)
    assert jittered(HOUR, POLICY, 0.5) == HOUR
    assert jittered(15 * MINUTE, POLICY, 0.0) == 15 * MINUTE  # never below the floor
    assert jittered(DAY, POLICY, 0.999999) == DAY  # never above the ceiling


def test_jitter_spreads_feeds_with_the_same_interval() -> None:
    dues = {
        after_success("u", Hints(ttl="60"), now=NOW, policy=POLICY, rand=r).next_due
        for r in (0.1, 0.3, 0.6, 0.9)
    }
    assert len(dues) == 4


def test_after_success_the_feed_is_due_after_its_interval() -> None:
    schedule = after_success("u", Hints(ttl="45"), now=NOW, policy=POLICY, rand=NO_JITTER)
    assert schedule == FeedSchedule(
        "u", 2700.0, "ttl 45 min", NOW, NOW + timedelta(minutes=45), 0, Hints(ttl="45")
    )


def failures(n: int, *, interval_hints: Hints, retry_after: float | None = None) -> FeedSchedule:
    schedule = after_success("u", interval_hints, now=NOW, policy=POLICY, rand=NO_JITTER)
    for _ in range(n):
        schedule = after_failure(
            "u", schedule, retry_after=retry_after, now=NOW, policy=POLICY, rand=NO_JITTER
        )
    return schedule


def test_backoff_doubles_per_failure_up_to_the_ceiling() -> None:
    delays = [
        (failures(n, interval_hints=Hints(ttl="60")).next_due - NOW).total_seconds() / HOUR
        for n in range(1, 9)
    ]
    assert delays == [1, 2, 4, 8, 16, 24, 24, 24]
    dead = failures(500, interval_hints=Hints(ttl="60"))  # no overflow after many failures
    assert dead.failures == 500
    assert dead.next_due - NOW == timedelta(days=1)
    assert dead.reason == "backoff after 500 failures"
    assert dead.hints == Hints(ttl="60")  # the feed's hints are kept for when it recovers


def test_the_first_failure_of_an_unknown_feed_uses_the_default() -> None:
    schedule = after_failure("u", None, retry_after=None, now=NOW, policy=POLICY, rand=NO_JITTER)
    assert (schedule.failures, schedule.next_due) == (1, NOW + timedelta(hours=1))


def test_a_success_after_failures_resets_the_backoff() -> None:
    failing = failures(5, interval_hints=Hints(ttl="60"))
    recovered = after_success("u", failing.hints, now=NOW, policy=POLICY, rand=NO_JITTER)
    assert (recovered.failures, recovered.next_due) == (0, NOW + timedelta(hours=1))


def test_retry_after_is_honoured_but_capped_at_the_ceiling() -> None:
    later = failures(1, interval_hints=Hints(ttl="20"), retry_after=3 * HOUR)
    assert later.next_due == NOW + timedelta(hours=3)
    assert later.reason == "Retry-After 10800 s"
    sooner = failures(1, interval_hints=Hints(ttl="120"), retry_after=60.0)
    assert sooner.next_due == NOW + timedelta(hours=2)  # never earlier than the backoff
    hostile = failures(1, interval_hints=Hints(), retry_after=10 * 365 * DAY)
    assert hostile.next_due == NOW + timedelta(days=1)


# --- clock jumps ----------------------------------------------------------------------------
def test_a_clock_gone_back_counts_the_planned_delay_from_now() -> None:
    planned = after_success("u", Hints(ttl="45"), now=NOW, policy=POLICY, rand=NO_JITTER)
    earlier = NOW - timedelta(days=3)
    rebased = rebase(planned, earlier)
    assert (rebased.last_attempt, rebased.next_due) == (earlier, earlier + timedelta(minutes=45))
    assert rebase(rebased, earlier + timedelta(minutes=1)) == rebased  # once, not each look
    assert rebase(planned, NOW + timedelta(days=3)) == planned  # forward: simply overdue


def test_a_due_time_is_never_later_than_the_ceiling_after_the_last_attempt() -> None:
    stored = FeedSchedule("u", HOUR, "ttl", NOW, NOW + timedelta(days=30))
    assert due_time(stored, POLICY) == NOW + timedelta(days=1)
    assert due_time(stored, Policy(ceiling=2 * HOUR)) == NOW + timedelta(hours=2)


# --- heartbeats -----------------------------------------------------------------------------
def beat(age: float, host: str = "here") -> WatcherBeat:
    return WatcherBeat(4242, host, NOW - timedelta(hours=1), NOW - timedelta(seconds=age))


def test_a_fresh_heartbeat_of_a_live_process_is_a_running_watcher() -> None:
    assert watcher_alive(beat(10), now=NOW, host="here", pid_alive=lambda pid: pid == 4242)


def test_a_stale_or_dead_watcher_is_not_running() -> None:
    alive = lambda pid: True  # noqa: E731
    assert not watcher_alive(beat(121), now=NOW, host="here", pid_alive=alive)
    assert not watcher_alive(beat(-600), now=NOW, host="here", pid_alive=alive)  # future beat
    assert not watcher_alive(beat(5), now=NOW, host="here", pid_alive=lambda pid: False)


def test_another_hosts_watcher_is_judged_by_its_heartbeat_alone() -> None:
    dead = lambda pid: False  # noqa: E731
    assert watcher_alive(beat(5, "elsewhere"), now=NOW, host="here", pid_alive=dead)
    assert not watcher_alive(beat(300, "elsewhere"), now=NOW, host="here", pid_alive=dead)


# --- durations ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("900", 900.0),
        ("90s", 90.0),
        ("15m", 900.0),
        (" 24H ", DAY),
        ("1.5h", 5400.0),
        ("1d", DAY),
        ("2 m", 120.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0m", "-5m", "15 minutes", "m", "1w", "soon"])
def test_bad_durations_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (45, 900, 5400, DAY, 2.5 * DAY)] == [
        "45 s",
        "15 min",
        "1.5 h",
        "1 d",
        "2.5 d",
    ]
