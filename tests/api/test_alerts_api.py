"""The alerts routes against the app on moto: a pharmacy's admin lists its alerts (open ones by
default, newest first, bounded) and acknowledges one (idempotent, the first acknowledgement kept);
a pharmacist, the platform or another pharmacy's admin is refused and journaled, before any 400;
another pharmacy's alert id is a 404. Every read and acknowledgement leaves its event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.bootstrap import get_container
from chalicelib.domain.alerts import Alert
from tests.conftest import PHARMACY_A, PHARMACY_B, World

ALERTS = f"/v1/admin/pharmacies/{PHARMACY_A}/alerts"
START = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
RECORD = "6f1c1a52-51f5-4a39-9b0e-2b2a3f0f8d11"


def _raise(finess: str = PHARMACY_A, hour: int = 0, detector: str = "bulk_reads") -> str:
    alert = Alert(
        finess=finess,
        detector=detector,
        subject="pharmacist-a",
        window_start=START + timedelta(hours=hour),
        window_end=START + timedelta(hours=hour + 1),
        count=300,
        threshold=100,
        record_ids=(RECORD,),
    )
    assert get_container().alerts.raise_alert(alert, at=START + timedelta(hours=hour, minutes=59))
    return alert.alert_id


def _events(chain: str) -> list[tuple[Any, Any, Any, Any]]:
    return [
        (e.event["action"], e.event["outcome"], e.event["actor"], e.event["reason"])
        for e in AuditEventModel.query(chain)
        if e.event["action"] != "alert_raised"
    ]


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    return [a["alert_id"] for a in json.loads(response.body)["alerts"]]


def test_an_admin_reads_the_pharmacy_s_open_alerts_newest_first_each_read_journaled(world: World) -> None:
    older, newer = _raise(hour=0), _raise(hour=1, detector="outside_hours")
    _raise(PHARMACY_B, hour=2)
    response = world.call("GET", ALERTS, "admin-a")
    assert _ids(response) == [newer, older]
    body = json.loads(response.body)
    assert body["finess"] == PHARMACY_A
    first = body["alerts"][0]
    assert {k: first[k] for k in ("detector", "subject", "count", "threshold", "record_ids")} == {
        "detector": "outside_hours",
        "subject": "pharmacist-a",
        "count": 300,
        "threshold": 100,
        "record_ids": [RECORD],
    }
    assert (first["window_start"], first["raised_at"]) == ("2026-11-29T04:00:00Z", "2026-11-29T04:59:00Z")
    assert first["acknowledged_at"] is None and first["acknowledged_by"] is None
    assert _ids(world.call("GET", f"{ALERTS}?limit=1", "admin-a")) == [newer]
    assert _events(PHARMACY_A) == [
        ("read_alerts", "success", "admin-a", "2 unacknowledged alert(s)"),
        ("read_alerts", "success", "admin-a", "1 unacknowledged alert(s)"),
    ]


def test_an_acknowledgement_takes_the_alert_out_of_the_default_list_and_a_second_keeps_the_first(
    world: World,
) -> None:
    alert_id = _raise()
    acknowledged = world.call("POST", f"{ALERTS}/{alert_id}/acknowledgement", "admin-a")
    assert acknowledged.status_code == 200, acknowledged.body
    first = json.loads(acknowledged.body)
    assert first["alert_id"] == alert_id and first["acknowledged_by"] == "admin-a"
    assert first["acknowledged_at"].endswith("Z")
    assert _ids(world.call("GET", ALERTS, "admin-a")) == []
    assert _ids(world.call("GET", f"{ALERTS}?include_acknowledged=true", "admin-a")) == [alert_id]
    again = world.call("POST", f"{ALERTS}/{alert_id}/acknowledgement", "admin-a")
    assert again.status_code == 200 and json.loads(again.body) == first
    assert [e for e in _events(PHARMACY_A) if e[0] == "acknowledge_alert"] == [
        ("acknowledge_alert", "success", "admin-a", alert_id),
        ("acknowledge_alert", "success", "admin-a", f"{alert_id}: acknowledged already"),
    ]


@pytest.mark.parametrize(
    ("user", "status", "chain", "reason"),
    [
        ("pharmacist-a", 403, PHARMACY_A, "role"),
        ("operator", 403, "platform", "role"),
        ("admin-b", 404, PHARMACY_B, "another pharmacy"),
    ],
)
@pytest.mark.parametrize("query", ["", "?limit=abc&include_acknowledged=maybe"])
def test_anyone_but_the_pharmacy_s_admin_is_refused_and_journaled_whatever_the_query(
    world: World, user: str, status: int, chain: str, reason: str, query: str
) -> None:
    alert_id = _raise()
    listed = world.call("GET", f"{ALERTS}{query}", user)
    acknowledged = world.call("POST", f"{ALERTS}/{alert_id}/acknowledgement", user)
    assert (listed.status_code, acknowledged.status_code) == (status, status), listed.body
    assert RECORD not in listed.body.decode() + acknowledged.body.decode()
    assert _events(chain) == [
        ("read_alerts", "denied", user, reason),
        ("acknowledge_alert", "denied", user, reason),
    ]
    assert _ids(world.call("GET", ALERTS, "admin-a")) == [alert_id]  # still open


def test_another_pharmacy_s_alert_is_the_journaled_404_of_no_alert(world: World) -> None:
    theirs = _raise(PHARMACY_B)
    answers = [
        world.call("POST", f"{ALERTS}/{target}/acknowledgement", "admin-a")
        for target in (theirs, "a-" + "0" * 24, "x" * 300)
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].body == answers[1].body == answers[2].body
    assert _events(PHARMACY_A) == [("acknowledge_alert", "denied", "admin-a", "not_found")] * 3
    assert _ids(world.call("GET", f"/v1/admin/pharmacies/{PHARMACY_B}/alerts", "admin-b")) == [theirs]


@pytest.mark.parametrize(
    ("query", "field"),
    [("?limit=0", "limit"), ("?limit=101", "limit"), ("?include_acknowledged=yes", "include_acknowledged")],
)
def test_the_admin_s_malformed_query_is_a_400_naming_the_field(world: World, query: str, field: str) -> None:
    response = world.call("GET", f"{ALERTS}{query}", "admin-a")
    assert response.status_code == 400, response.body
    body = json.loads(response.body)
    assert [e["field"] for e in body["errors"]] == [field]
