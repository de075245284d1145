"""A pharmacy's declared opening hours through the settings routes on moto: its admin declares them
(stored on the pharmacy's item, where the journal's review reads them), reads them back, clears
them; the platform is refused, journaled; a malformed body names its field and echoes nothing."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.adapters.dynamodb.review_state import DynamoDbPharmacyHours
from tests.conftest import PHARMACY_A, World

SETTINGS = f"/v1/admin/pharmacies/{PHARMACY_A}/settings"
HOURS = {"mon": ["14:00-19:30", "08:30-12:30"], "sat": ["09:00-18:00"]}


def _last_event(chain: str) -> dict[str, Any]:
    *_, last = AuditEventModel.query(chain)
    event: dict[str, Any] = last.event
    return event


def test_an_admin_declares_the_pharmacys_hours_which_the_review_reads_and_clears_them(world: World) -> None:
    declared = world.call("PUT", SETTINGS, "admin-a", {"opening_hours": HOURS})
    assert declared.status_code == 200, declared.body
    expected = {"mon": ["08:30-12:30", "14:00-19:30"], "sat": ["09:00-18:00"]}
    assert json.loads(declared.body) == {
        "finess": PHARMACY_A,
        "psc_required": False,
        "opening_hours": expected,
    }
    assert json.loads(world.call("GET", SETTINGS, "admin-a").body)["opening_hours"] == expected
    hours = DynamoDbPharmacyHours().opening_hours(PHARMACY_A)
    assert hours is not None and hours.time_zone == "Europe/Paris"
    assert (_last_event(PHARMACY_A)["action"], _last_event(PHARMACY_A)["reason"]) == (
        "read_pharmacy_settings",
        "settings",
    )
    cleared = world.call("PUT", SETTINGS, "admin-a", {"opening_hours": None})
    assert cleared.status_code == 200 and json.loads(cleared.body)["opening_hours"] is None
    assert DynamoDbPharmacyHours().opening_hours(PHARMACY_A) is None


def test_the_platform_may_not_silence_the_outside_hours_alert(world: World) -> None:
    assert world.call("PUT", SETTINGS, "admin-a", {"opening_hours": HOURS}).status_code == 200
    refused = world.call("PUT", SETTINGS, "operator", {"opening_hours": None})
    assert refused.status_code == 403, refused.body
    assert (_last_event(PHARMACY_A)["action"], _last_event(PHARMACY_A)["outcome"]) == (
        "set_pharmacy_settings",
        "denied",
    )
    assert DynamoDbPharmacyHours().opening_hours(PHARMACY_A) is not None


def test_malformed_hours_name_their_field_and_echo_nothing(world: World) -> None:
    answer = world.call("PUT", SETTINGS, "admin-a", {"opening_hours": {"tue": ["19:45-07:15"]}})
    assert answer.status_code == 400
    body = json.loads(answer.body)
    assert [error["field"] for error in body["errors"]] == ["opening_hours.tue"]
    assert b"19:45" not in answer.body and b"07:15" not in answer.body


def test_only_the_pharmacys_own_admin_declares_its_hours_not_its_pharmacist_another_pharmacy_or_the_platform(
    world: World,
) -> None:
    assert world.call("PUT", SETTINGS, "admin-a", {"opening_hours": HOURS}).status_code == 200
    for user, status in (("pharmacist-a", 403), ("admin-b", 404)):
        answer = world.call("PUT", SETTINGS, user, {"opening_hours": {"mon": ["00:00-24:00"]}})
        assert answer.status_code == status, (user, answer.body)
    # nor the platform by carrying the hours beside a setting it may change
    both = world.call("PUT", SETTINGS, "operator", {"psc_required": True, "opening_hours": None})
    assert both.status_code in (403, 409), both.body
    declared = DynamoDbPharmacyHours().opening_hours(PHARMACY_A)
    assert declared is not None and declared.days[0] == ((510, 750), (840, 1170))
