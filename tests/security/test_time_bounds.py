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
    assert body["errors"] == [
        {"field": bound, "code": "not_an_instant", "message": "is not a valid date-time"}
    ]


@pytest.mark.parametrize(
    ("path", "bound"),
    [
        ("/v1/audit?from=0001-01-01", "from"),  # starts in year 0 in UTC (Paris's offset)
        ("/v1/audit?to=9999-12-31", "to"),  # its end is the next day's start: none
        ("/v1/stats?from=9999-12-31T23:59:59Z&to=9999-12-31", "from"),  # already year 10000 in Paris
    ],
)
def test_a_date_bound_at_the_edge_of_the_calendar_is_a_400_naming_it_not_a_500(
    world: World, path: str, bound: str
) -> None:
    response = world.call("GET", path, "admin-a")
    assert response.status_code == 400, response.body
    body = json.loads(response.body)
    assert body["errors"] == [
        {
            "field": bound,
            "code": "date_out_of_range",
            "message": "is outside the range of dates the API accepts",
        }
    ]
