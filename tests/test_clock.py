"""kb.clock: the system clock every time seam defaults to, and the manual one tests use."""

from datetime import UTC

from conftest import ManualClock

from kb.clock import SYSTEM_CLOCK, Clock


def test_the_system_clock_is_aware_utc_and_monotonic() -> None:
    before = SYSTEM_CLOCK.monotonic()
    SYSTEM_CLOCK.sleep(0.01)
    assert SYSTEM_CLOCK.monotonic() - before >= 0.01
    assert SYSTEM_CLOCK.now().tzinfo == UTC


def test_the_manual_clock_moves_only_when_slept_on_or_advanced() -> None:
    clock: Clock = ManualClock()
    start = clock.now()
    assert clock.monotonic() == 0.0
    clock.sleep(30.0)
    assert (clock.monotonic(), (clock.now() - start).total_seconds()) == (30.0, 30.0)
    assert isinstance(clock, ManualClock)
    clock.advance(0.5)
    assert clock.sleeps == [30.0]
    assert clock.monotonic() == 30.5
