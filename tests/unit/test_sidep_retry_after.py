"""SI-DEP's Retry-After (429/503): how long the refused batch's records wait."""

from __future__ import annotations

import pytest

from chalicelib.adapters.sidep.transport import MAX_RETRY_AFTER_SECONDS, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (None, 60.0),  # absent: a minute
        ("Wed, 21 Oct 2026 07:28:00 GMT", 60.0),  # an HTTP date: a minute, not a parse of their clock
        ("soon", 60.0),
        ("nan", 60.0),
        ("inf", MAX_RETRY_AFTER_SECONDS),
        ("999999", MAX_RETRY_AFTER_SECONDS),  # at most an hour
        ("0", 1.0),
        ("-30", 1.0),
    ],
)
def test_retry_after_is_delta_seconds_capped_at_an_hour_and_a_minute_when_unreadable(
    header: str | None, seconds: float
) -> None:
    assert retry_after_seconds(header) == seconds
