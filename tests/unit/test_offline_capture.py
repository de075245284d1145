"""Offline capture: a record entered on a tablet without network and synchronised later is
accepted within the offline window (`OFFLINE_WINDOW_DAYS`), with the device's capture time
(`captured_at`) checked against the sampling and the server's clock, in a single create and in a
batch item alike (one declaration), and no error quoting the value it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.config import ConfigurationError, Settings, load_settings
from chalicelib.domain.errors import ValidationFailed
from chalicelib.payloads import parse_batch, parse_submission
from testkit.patients import screening_body

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WINDOW = Settings().offline_window_days
PARIS_WINTER = timezone(timedelta(hours=1))


def _body(sampled: datetime, captured: datetime | None = None, **test: Any) -> dict[str, Any]:
    body = screening_body(0, sampled_at=sampled.astimezone(PARIS_WINTER).isoformat())
    if captured is not None:
        body["test"]["captured_at"] = captured.astimezone(PARIS_WINTER).isoformat()
    body["test"].update(test)
    return body


def _errors(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_submission(body, now=NOW, max_age_days=WINDOW)
    return {error.field: error.message for error in caught.value.errors}


def test_the_window_is_a_week_by_default_and_its_own_setting() -> None:
    assert WINDOW == 7
    assert load_settings({"OFFLINE_WINDOW_DAYS": "3"}).offline_window_days == 3
    assert load_settings({}).retention_hard_cap_days == 90  # the bound it was before


@pytest.mark.parametrize("raw", ["0", "-1", "91"])
def test_a_window_outside_one_day_to_the_hard_cap_does_not_load(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="OFFLINE_WINDOW_DAYS") as caught:
        load_settings({"OFFLINE_WINDOW_DAYS": raw})
    assert raw not in str(caught.value).replace("RETENTION_HARD_CAP_DAYS", "")


def test_a_campaign_synchronised_six_days_later_is_accepted_with_its_capture_time() -> None:
    sampled = NOW - timedelta(days=6, hours=3)
    captured = sampled + timedelta(minutes=17, seconds=5)
    test = parse_submission(_body(sampled, captured), now=NOW, max_age_days=WINDOW).test
    assert test.sampled_at == sampled and test.captured_at == captured
    assert test.captured_at is not None and test.captured_at.utcoffset() == timedelta(hours=1)  # kept


def test_captured_at_is_optional() -> None:
    test = parse_submission(_body(NOW - timedelta(hours=1)), now=NOW, max_age_days=WINDOW).test
    assert test.captured_at is None
    body = _body(NOW - timedelta(hours=1), captured_at=None)
    assert parse_submission(body, now=NOW, max_age_days=WINDOW).test.captured_at is None


def test_a_sample_older_than_the_window_is_refused_naming_the_window() -> None:
    body = _body(NOW - timedelta(days=WINDOW, minutes=1))
    assert _errors(body) == {"test.sampled_at": f"must be within the last {WINDOW} days"}


@pytest.mark.parametrize(
    ("sampled_ago", "captured_ago", "message"),
    [
        # the device's clock ahead of ours beyond the skew
        (timedelta(hours=1), -timedelta(minutes=6), "must not be in the future"),
        # entered before the sample was taken (beyond the skew)
        (timedelta(hours=1), timedelta(hours=1, minutes=6), "must not be before sampled_at"),
        # a device whose clock is days behind
        (timedelta(days=1), timedelta(days=WINDOW + 1), "must be within the last 7 days"),
    ],
)
def test_a_capture_time_out_of_order_is_refused(
    sampled_ago: timedelta, captured_ago: timedelta, message: str
) -> None:
    body = _body(NOW - sampled_ago, NOW - captured_ago)
    errors = _errors(body)
    assert errors == {"test.captured_at": message}
    assert body["test"]["captured_at"] not in repr(errors)  # nothing quoted
    assert body["test"]["captured_at"][:10] not in repr(errors)


def test_a_capture_within_the_clock_skew_of_either_bound_is_accepted() -> None:
    sampled = NOW - timedelta(hours=2)
    for captured in (sampled - timedelta(minutes=4), NOW + timedelta(minutes=4)):
        assert parse_submission(_body(sampled, captured), now=NOW, max_age_days=WINDOW).test.captured_at


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2026-12-06T10:00:00", "must include a time zone offset (Z or ±hh:mm)"),
        ("yesterday", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
        ("2026-02-30T10:00:00Z", "is not a valid date-time"),
        (1796000000, "must be a string"),
        ("", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
    ],
)
def test_a_malformed_capture_time_is_named_not_quoted(raw: object, message: str) -> None:
    errors = _errors(_body(NOW - timedelta(hours=1), captured_at=raw))
    assert errors == {"test.captured_at": message}


def test_a_batch_item_takes_the_same_capture_time_and_the_same_rules() -> None:
    sampled = NOW - timedelta(days=1, hours=2)
    good = {"key": "3f1c2a4e-8d5b-4c7a-9e21-6b0d4f8a2c19", **_body(sampled, sampled + timedelta(minutes=3))}
    late = {"key": "4f1c2a4e-8d5b-4c7a-9e21-6b0d4f8a2c19", **_body(sampled, NOW + timedelta(hours=1))}
    old = {"key": "5f1c2a4e-8d5b-4c7a-9e21-6b0d4f8a2c19", **_body(NOW - timedelta(days=WINDOW + 2))}
    items = parse_batch({"items": [good, late, old]}, now=NOW, max_age_days=WINDOW)
    assert items[0].submission is not None
    assert items[0].submission.test.captured_at == sampled + timedelta(minutes=3)
    assert [(e.field, e.message) for e in items[1].errors] == [
        ("/items/1/test/captured_at", "must not be in the future")
    ]
    assert [(e.field, e.message) for e in items[2].errors] == [
        ("/items/2/test/sampled_at", f"must be within the last {WINDOW} days")
    ]


def test_the_capture_time_is_part_of_a_batch_items_body_for_its_replay() -> None:
    """A replay with the same key and another capture time is another body (a conflict), not the
    same record: the item's canonical body carries captured_at."""
    sampled = NOW - timedelta(hours=5)
    key = "3f1c2a4e-8d5b-4c7a-9e21-6b0d4f8a2c19"
    first = {"key": key, **_body(sampled, sampled + timedelta(minutes=1))}
    second = {"key": key, **_body(sampled, sampled + timedelta(minutes=2))}
    (a,) = parse_batch({"items": [first]}, now=NOW, max_age_days=WINDOW)
    (b,) = parse_batch({"items": [second]}, now=NOW, max_age_days=WINDOW)
    assert a.body != b.body


SKEW = timedelta(minutes=5)


@given(
    sampled_ago=st.integers(min_value=-10, max_value=(WINDOW + 1) * 24 * 60),
    captured_after=st.integers(min_value=-20, max_value=(WINDOW + 1) * 24 * 60),
)
@settings(max_examples=300, deadline=None)
def test_a_record_is_accepted_exactly_when_sampled_within_the_window_and_captured_between_sample_and_now(
    sampled_ago: int, captured_after: int
) -> None:
    sampled = NOW - timedelta(minutes=sampled_ago)
    captured = sampled + timedelta(minutes=captured_after)
    expected = (
        NOW - timedelta(days=WINDOW) <= sampled <= NOW + SKEW
        and sampled - SKEW <= captured <= NOW + SKEW
        and captured >= NOW - timedelta(days=WINDOW) - SKEW
    )
    try:
        test = parse_submission(_body(sampled, captured), now=NOW, max_age_days=WINDOW).test
    except ValidationFailed as failed:
        assert not expected, failed.errors
        assert {e.field for e in failed.errors} <= {"test.sampled_at", "test.captured_at"}
    else:
        assert expected and test.captured_at == captured
