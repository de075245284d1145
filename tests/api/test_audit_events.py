"""Each route leaves exactly the audit events it should: identifiers, never personal values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from unittest import mock

import pytest

from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.domain.errors import ServiceUnavailable
from testkit.patients import personal_needles, screening_body
from tests.conftest import PHARMACY_A, World


class Journal:
    """The events appended since the last look, per chain."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def new(self, chain: str) -> list[dict[str, object]]:
        events = [e.event for e in AuditEventModel.query(chain) if e.seq > self.seen.get(chain, 0)]
        if events:
            self.seen[chain] = int(max(e.seq for e in AuditEventModel.query(chain)))
        return events

    def actions(self, chain: str) -> list[tuple[object, object]]:
        return [(e["action"], e["outcome"]) for e in self.new(chain)]


@pytest.fixture
def journal(world: World) -> Iterator[Journal]:
    yield Journal()


def test_each_record_route_leaves_its_events(world: World, journal: Journal) -> None:
    created = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0, result=None)).body)
    rid = created["id"]
    events = journal.new(PHARMACY_A)
    assert [(e["action"], e["outcome"], e["record_ids"]) for e in events] == [("create", "success", [rid])]
    event = events[0]
    assert (
        event["actor"] == "pharmacist-a" and event["role"] == "pharmacist" and event["finess"] == PHARMACY_A
    )
    assert event["request_id"] and event["source_ip"] == "127.0.0.1"
    assert next(iter(AuditEventModel.query(PHARMACY_A))).time.endswith("Z")

    world.call("GET", f"/v1/tests/{rid}", "pharmacist-a")
    assert journal.actions(PHARMACY_A) == [("read", "success")]
    world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a")
    assert journal.actions(PHARMACY_A) == [("list", "success")]
    world.call("PUT", f"/v1/tests/{rid}/result", "pharmacist-a", {"result": "negative"})
    assert journal.actions(PHARMACY_A) == [("set_result", "success")]
    world.call("GET", f"/v1/tests/{rid}/delivery", "pharmacist-a")
    assert journal.actions(PHARMACY_A) == [("read_delivery", "success")]
    world.call("DELETE", f"/v1/tests/{rid}", "pharmacist-a")
    assert journal.actions(PHARMACY_A) == [("cancel", "success")]
    world.call("GET", "/v1/audit", "admin-a")
    assert journal.actions(PHARMACY_A) == [("read_audit", "success")]


def test_refusals_leave_events(world: World, journal: Journal) -> None:
    journal.new("platform")
    world.call("GET", "/v1/tests", None)
    assert journal.actions("platform") == [("authenticate", "denied")]
    world.call("GET", f"/v1/tests/{uuid.uuid4()}", "operator")
    assert journal.actions("platform") == [("read", "denied")]


def test_admin_routes_leave_events(world: World, journal: Journal) -> None:
    world.call(
        "POST", "/v1/admin/pharmacies", "operator", {"finess": "690000013", "name": "Pharmacie du Rhône"}
    )
    assert journal.actions("690000013") == [("onboard_pharmacy", "success")]
    invited = json.loads(
        world.call(
            "POST",
            f"/v1/admin/pharmacies/{PHARMACY_A}/members",
            "admin-a",
            {"email": "x@example.org", "role": "pharmacist"},
        ).body
    )
    world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{invited['username']}", "admin-a")
    assert journal.actions(PHARMACY_A) == [("invite_member", "success"), ("revoke_member", "success")]


def test_no_event_holds_a_personal_value(world: World) -> None:
    for i in range(4):
        rid = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(i)).body)["id"]
        world.call("GET", f"/v1/tests/{rid}", "pharmacist-a")
    dump = json.dumps([e.event for e in AuditEventModel.scan()])
    for needle in personal_needles():
        assert needle not in dump


def test_a_read_is_refused_when_the_journal_cannot_take_its_event(world: World) -> None:
    rid = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0)).body)["id"]
    from chalicelib.bootstrap import get_container

    journal = get_container().journal
    with mock.patch.object(type(journal), "append", side_effect=ServiceUnavailable("down")):
        response = world.call("GET", f"/v1/tests/{rid}", "pharmacist-a")
    assert response.status_code == 503
    assert response.headers.get("Retry-After")
    assert "Dupont" not in response.body.decode() and "295109912611193" not in response.body.decode()
