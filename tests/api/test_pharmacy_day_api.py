"""A pharmacy's day through the API: overseas pharmacies list "today" by their own clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.payloads import finess_with_check_digit
from testkit.fakes import FixedClock
from testkit.patients import screening_body
from tests.conftest import World

REUNION = finess_with_check_digit("97400002")
GUADELOUPE = finess_with_check_digit("97100002")


@pytest.fixture
def clock(world: World) -> Iterator[FixedClock]:
    """The app's container with a clock the test moves (the world's memberships stay)."""
    from chalicelib import bootstrap
    from chalicelib.config import get_settings

    fixed = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    bootstrap._container = bootstrap.build(get_settings(), clock=fixed)
    yield fixed
    bootstrap.reset()


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def onboard(world: World, finess: str, **extra: str) -> dict[str, Any]:
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships
    from chalicelib.domain.model import Role
    from chalicelib.ports import Membership

    created = world.call(
        "POST", "/v1/admin/pharmacies", "operator", {"finess": finess, "name": "Pharmacie", **extra}
    )
    assert created.status_code == 201, created.body
    DynamoDbMemberships(SystemClock()).add(
        Membership(username=f"pharmacist-{finess}", role=Role.PHARMACIST, finess=finess), created_by="tests"
    )
    return dict(body_of(created))


def listed_today(world: World, finess: str) -> list[str]:
    response = world.call("GET", "/v1/tests", f"pharmacist-{finess}")
    assert response.status_code == 200, response.body
    return [item["id"] for item in body_of(response)["items"]]


def create(world: World, finess: str, sampled_at: str) -> dict[str, Any]:
    response = world.call(
        "POST", "/v1/tests", f"pharmacist-{finess}", screening_body(0, sampled_at=sampled_at)
    )
    assert response.status_code == 201, response.body
    return dict(body_of(response))


def test_onboarding_derives_the_zone_from_the_finess_or_takes_a_french_one(
    world: World, clock: FixedClock
) -> None:
    assert onboard(world, REUNION)["time_zone"] == "Indian/Reunion"
    tahiti = finess_with_check_digit("98700002")
    assert onboard(world, tahiti, time_zone="Pacific/Marquesas")["time_zone"] == "Pacific/Marquesas"
    refused = world.call(
        "POST",
        "/v1/admin/pharmacies",
        "operator",
        {"finess": finess_with_check_digit("98700003"), "name": "P", "time_zone": "Mars/Olympus"},
    )
    assert refused.status_code == 400
    assert [e["field"] for e in body_of(refused)["errors"]] == ["time_zone"]


def test_reunion_lists_today_by_its_own_midnight_not_paris(world: World, clock: FixedClock) -> None:
    onboard(world, REUNION)
    # 23:50 in Réunion (19:50Z, 20:50 in Paris): a test sent in UTC
    clock.moment = datetime(2026, 11, 29, 19, 50, tzinfo=UTC)
    evening = create(world, REUNION, "2026-11-29T19:45:00Z")
    assert evening["day"] == "2026-11-29"
    assert listed_today(world, REUNION) == [evening["id"]]
    # 00:20 in Réunion, still 21:20 of the 29th in Paris: Réunion's today is the 30th
    clock.moment = datetime(2026, 11, 29, 20, 20, tzinfo=UTC)
    night = create(world, REUNION, "2026-11-29T21:15:00+01:00")  # sent in Paris time
    assert night["day"] == "2026-11-30"
    assert listed_today(world, REUNION) == [night["id"]]
    # the mainland pharmacy's today is still the 29th
    paris = world.call(
        "POST", "/v1/tests", "pharmacist-a", screening_body(1, sampled_at="2026-11-29T21:00:00+01:00")
    )
    assert body_of(paris)["day"] == "2026-11-29"
    paris_today = [i["id"] for i in body_of(world.call("GET", "/v1/tests", "pharmacist-a"))["items"]]
    assert body_of(paris)["id"] in paris_today


def test_guadeloupe_lists_today_by_its_own_midnight_not_paris(world: World, clock: FixedClock) -> None:
    onboard(world, GUADELOUPE)
    # 23:40 in Guadeloupe (UTC-4) is already 04:40 of the 30th in Paris
    clock.moment = datetime(2026, 11, 30, 3, 40, tzinfo=UTC)
    late = create(world, GUADELOUPE, "2026-11-30T04:35:00+01:00")
    assert late["day"] == "2026-11-29"
    assert listed_today(world, GUADELOUPE) == [late["id"]]
    assert [i["id"] for i in body_of(world.call("GET", "/v1/tests", "pharmacist-a"))["items"]] == []
    # 00:10 in Guadeloupe: a new day there
    clock.moment = datetime(2026, 11, 30, 4, 10, tzinfo=UTC)
    assert listed_today(world, GUADELOUPE) == []
    dated = world.call("GET", "/v1/tests?date=2026-11-29", f"pharmacist-{GUADELOUPE}")
    assert [i["id"] for i in body_of(dated)["items"]] == [late["id"]]


def test_a_test_sampled_at_00_30_paris_time_sent_in_utc_lands_on_the_paris_day(
    world: World, clock: FixedClock
) -> None:
    clock.moment = datetime(2026, 11, 29, 23, 45, tzinfo=UTC)
    record = body_of(
        world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0, sampled_at="2026-11-29T23:30:00Z"))
    )
    assert record["day"] == "2026-11-30"
    listed = world.call("GET", "/v1/tests?date=2026-11-30", "pharmacist-a")
    assert [i["id"] for i in body_of(listed)["items"]] == [record["id"]]
    today = world.call("GET", "/v1/tests", "pharmacist-a")  # 00:45 in Paris: the 30th
    assert [i["id"] for i in body_of(today)["items"]] == [record["id"]]
