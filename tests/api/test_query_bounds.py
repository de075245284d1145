"""Every query bound takes a date or an RFC 3339 date-time; a date is a day of the pharmacy's time
zone (a lower bound its start, an upper bound its inclusive end)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.pharmacy_day import zone_of_finess
from tests.conftest import PHARMACY_A, World


def _today() -> str:
    return datetime.now(ZoneInfo(zone_of_finess(PHARMACY_A))).date().isoformat()


def _events(world: World, query: str) -> list[dict[str, object]]:
    response = world.call("GET", f"/v1/audit?{query}", "admin-a")
    assert response.status_code == 200, response.body
    items: list[dict[str, object]] = json.loads(response.body)["items"]
    return items


def test_an_audit_window_of_dates_covers_the_whole_of_the_pharmacy_s_day_inclusive(world: World) -> None:
    world.call("GET", "/v1/audit", "admin-a")  # one event today
    today = _today()
    assert _events(world, f"from={today}&to={today}")  # `to` a date: up to the end of that day
    yesterday = (datetime.fromisoformat(today) - timedelta(days=1)).date().isoformat()
    assert _events(world, f"to={yesterday}") == []
    assert _events(world, f"from={today}&to={today}T23:59:59%2B00:00")


def test_stats_take_a_date_time_as_its_pharmacy_day(world: World) -> None:
    today = _today()
    response = world.call("GET", f"/v1/stats?from={today}T00:00:00Z&to={today}", "admin-a")
    assert response.status_code == 200, response.body
    assert [day["date"] for day in json.loads(response.body)["days"]][-1] == today


def test_a_malformed_bound_is_a_400_naming_it_and_echoing_nothing(world: World) -> None:
    for path in ("/v1/audit?from=quixotic-2026", "/v1/stats?from=quixotic-2026&to=2026-11-29"):
        response = world.call("GET", path, "admin-a")
        assert response.status_code == 400, response.body
        body = json.loads(response.body)
        assert [error["field"] for error in body["errors"]] == ["from"]
        assert "quixotic" not in response.body.decode()
