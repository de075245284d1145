"""The retry schedule itself: equal-jitter exponential backoff with an injected random source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.delivery import BackoffPolicy, after_transport_failure, backoff_delay
from chalicelib.domain.model import DeliveryState

POLICY = BackoffPolicy(base_seconds=30, factor=2, cap_seconds=3600, max_attempts=8)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failed", "low", "high"),
    [
        (1, 15, 30),
        (2, 30, 60),
        (3, 60, 120),
        (4, 120, 240),
        (5, 240, 480),
        (6, 480, 960),
        (7, 960, 1920),
        (8, 1800, 3600),  # 3840 capped at one hour
        (20, 1800, 3600),
    ],
)
def test_the_schedule_doubles_from_30_seconds_with_half_of_it_jittered(
    failed: int, low: int, high: int
) -> None:
    assert backoff_delay(failed, POLICY, lambda: 0.0) == timedelta(seconds=low)
    assert backoff_delay(failed, POLICY, lambda: 0.5) == timedelta(seconds=(low + high) / 2)
    almost_one = 1.0 - 2**-53
    assert (
        timedelta(seconds=low) < backoff_delay(failed, POLICY, lambda: almost_one) <= timedelta(seconds=high)
    )


def test_the_whole_schedule_with_a_fixed_random_source() -> None:
    delays = [backoff_delay(n, POLICY, lambda: 0.5).total_seconds() for n in range(1, 9)]
    assert delays == [22.5, 45, 90, 180, 360, 720, 1440, 2700]


def test_jitter_spreads_retries_of_records_that_failed_together() -> None:
    import random

    source = random.Random(7)
    delays = {backoff_delay(3, POLICY, source.random) for _ in range(50)}
    assert len(delays) == 50
    assert all(timedelta(seconds=60) <= d < timedelta(seconds=120) for d in delays)


def test_the_random_source_is_the_only_randomness() -> None:
    values = iter([0.25, 0.25])
    first = backoff_delay(4, POLICY, lambda: next(values))
    second = backoff_delay(4, POLICY, lambda: next(values))
    assert first == second == timedelta(seconds=150)


def test_retries_end_in_a_dead_letter_after_max_attempts() -> None:
    retry = after_transport_failure(7, NOW, POLICY, lambda: 0.0)
    assert retry.state is DeliveryState.READY and retry.next_attempt_at == NOW + timedelta(seconds=960)
    dead = after_transport_failure(8, NOW, POLICY, lambda: 0.0)
    assert dead.state is DeliveryState.FAILED and dead.next_attempt_at is None


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0])
def test_a_random_source_outside_the_unit_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(1, POLICY, lambda: bad)


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, POLICY, lambda: 0.0)
