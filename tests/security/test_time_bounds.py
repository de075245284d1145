"""A date-time the parser accepts must name an instant: one at the edge of the calendar whose offset
pushes it out of range (0001-01-01T00:00:00+23:59 is before year 1 in UTC) is a 400, not a 500."""

from __future__ import annotations

import json

import pytest

from tests.conftest import World

BEFORE_YEAR_1 = "0001-01-01T00:00:00%2B23:59"  # %2B: "+" in a query string
AFTER_YEAR_9999 = "9999-12-31T23:59:59-23:59"


@pytest.mark.parametrize(
    ("bound", "moment"),
    [("from", BEFORE_YEAR_1), ("to", BEFORE_YEAR_1), ("to", AFTER_YEAR_9999)],
)
def test_an_audit_window_bound_with_no_utc_instant_is_a_400_naming_it(
    world: World, bound: str, moment: str
) -> None:
    response = world.call("GET", f"/v1/audit?{bound}={moment}", "admin-a")
    assert response.status_code == 400, response.body
    body = json.loads(response.body)
    assert body["errors"] == [{"field": bound, "message": "is not a valid date-time"}]
