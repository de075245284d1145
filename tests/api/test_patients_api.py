"""The patients' rights and statistics routes through the Chalice test client: export by NIR,
erasure of what was never sent, statistics from skeletons; roles and pharmacy isolation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.models import AuditEventModel, RecordModel
from testkit.patients import PATIENTS, personal_needles, screening_body
from tests.conftest import PHARMACY_A, PHARMACY_B, World


@pytest.fixture
def rights(world: World) -> Iterator[World]:
    """The app with the rights and stats routes (the real one)."""
    yield world


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def create(world: World, patient: int, result: str | None = "negative", user: str = "pharmacist-a") -> str:
    response = world.call("POST", "/v1/tests", user, screening_body(patient, result))
    assert response.status_code == 201, response.body
    return str(body_of(response)["id"])


def nir(patient: int) -> dict[str, str]:
    return {"nir": PATIENTS[patient]["nir"]}


def send_everything() -> None:
    """One export run against a SI-DEP that acknowledges everything."""
    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.bootstrap import get_container
    from chalicelib.ports import Outbound, Receipt, SendReport
    from chalicelib.services.export import ExportRun, ExportSettings

    class AcceptAll:
        def send(self, items: Sequence[Outbound], now: datetime) -> SendReport:
            return SendReport("b", {i.record.id: Receipt(True, uuid.uuid4().hex) for i in items})

    container = get_container()
    ExportRun(
        queue=DynamoDbExportQueue(boto3.client("dynamodb", region_name="eu-west-3"), owner="test"),
        cipher=container.records.cipher,
        sender=AcceptAll(),
        journal=container.journal,
        clock=container.clock,
        settings=ExportSettings(time_budget_seconds=600, batch_reserve_seconds=0),
    ).run()


def events(action: str) -> list[dict[str, Any]]:
    return [e.event for e in AuditEventModel.scan() if e.event.get("action") == action]


def test_a_pharmacist_exports_everything_held_about_a_patient(world: World, rights: World) -> None:
    first, second = create(world, 0), create(world, 0, result=None)
    create(world, 1)
    response = rights.call("POST", "/v1/patients/search", "pharmacist-a", nir(0))
    assert response.status_code == 200, response.body
    body = body_of(response)
    assert body["finess"] == PHARMACY_A
    assert sorted(r["id"] for r in body["records"]) == sorted([first, second])
    record = next(r for r in body["records"] if r["id"] == first)
    assert record["patient"]["last_name"] == PATIENTS[0]["last_name"]
    assert record["patient"]["email"] == PATIENTS[0]["email"]
    assert record["delivery"]["state"] == "queued" and record["delivery"]["history"]
    assert record["retention"] == {
        "sent_to_sidep": False,
        "personal_data_erased_on": record["retention"]["personal_data_erased_on"],
    }
    assert body["retention_policy"] == {"after_acknowledgement_days": 30, "hard_cap_days": 90}
    (event,) = events("patient_export")
    assert sorted(event["record_ids"]) == sorted([first, second]) and event["actor"] == "pharmacist-a"
    # a pharmacy_admin may too
    assert rights.call("POST", "/v1/patients/search", "admin-a", nir(0)).status_code == 200


def test_another_pharmacy_finds_nothing_and_a_platform_admin_is_refused(world: World, rights: World) -> None:
    create(world, 0)
    other = rights.call("POST", "/v1/patients/search", "pharmacist-b", nir(0))
    assert other.status_code == 200 and body_of(other)["records"] == []
    erase = rights.call("POST", "/v1/patients/erasure", "pharmacist-b", nir(0))
    assert body_of(erase)["erased"] == [] and body_of(erase)["already_sent"] == []
    for path in ("/v1/patients/search", "/v1/patients/erasure"):
        assert rights.call("POST", path, "operator", nir(0)).status_code == 403
        assert rights.call("POST", path, None, nir(0)).status_code == 401
    # pharmacy A's record is untouched
    assert len(body_of(rights.call("POST", "/v1/patients/search", "pharmacist-a", nir(0)))["records"]) == 1


@pytest.mark.parametrize(
    "body",
    [{"nir": "2 95 10 99 126 111 94"}, {"nir": 12}, {}, {**nir(0), "last_name": PATIENTS[0]["last_name"]}],
)
def test_an_invalid_query_is_400_naming_the_field_and_echoing_nothing(rights: World, body: Any) -> None:
    for path in ("/v1/patients/search", "/v1/patients/erasure"):
        response = rights.call("POST", path, "pharmacist-a", body)
        assert response.status_code == 400
        assert response.headers["Content-Type"] == "application/problem+json"
        # an unknown field is named, as in every other body (a name, not a submitted value)
        assert {e["field"] for e in body_of(response)["errors"]} <= {"nir", "body", "last_name"}
        text = response.body.decode()
        for needle in [*personal_needles(), "2 95 10 99 126 111 94"]:
            assert needle not in text


def test_erasure_erases_what_was_never_sent_and_names_what_sidep_holds(world: World, rights: World) -> None:
    sent = create(world, 0)
    send_everything()
    unsent = create(world, 0, result=None)
    ready = create(world, 0)  # queued, not yet sent
    kept = create(world, 1, result=None)  # another patient

    response = rights.call("POST", "/v1/patients/erasure", "pharmacist-a", nir(0))
    assert response.status_code == 200, response.body
    body = body_of(response)
    assert sorted(body["erased"]) == sorted([unsent, ready])
    (held,) = body["already_sent"]
    assert held["id"] == sent and held["status"] == "acknowledged" and held["erased_here_on"]
    assert "SI-DEP" in body["detail"] and "erasing them there" in body["detail"]

    for record_id in (unsent, ready):
        read = world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a")
        assert read.status_code == 200
        assert body_of(read)["patient"] is None and body_of(read)["status"] == "cancelled"
        item = RecordModel.get(PHARMACY_A, record_id)
        assert item.personal is None and item.nir_index is None and item.export_queue is None
        assert item.erased_at is not None
        changed = world.call("PUT", f"/v1/tests/{record_id}/result", "pharmacist-a", {"result": "positive"})
        assert changed.status_code == 409
    found = body_of(rights.call("POST", "/v1/patients/search", "pharmacist-a", nir(0)))["records"]
    assert [r["id"] for r in found] == [sent]
    assert body_of(world.call("GET", f"/v1/tests/{kept}", "pharmacist-a"))["patient"] is not None
    # one erase event per erased record, before the answer
    erased_events = [e for e in events("erase") if e["outcome"] == "success"]
    assert sorted(e["record_ids"][0] for e in erased_events) == sorted([unsent, ready])
    assert {e["reason"] for e in erased_events} == {"patient_request"}
    (summary,) = events("patient_erasure")
    assert sorted(summary["record_ids"]) == sorted([unsent, ready, sent])
    # a second request finds only what SI-DEP holds
    again = body_of(rights.call("POST", "/v1/patients/erasure", "pharmacist-a", nir(0)))
    assert again["erased"] == [] and [r["id"] for r in again["already_sent"]] == [sent]


def test_stats_for_the_pharmacy_admin_from_skeletons(world: World, rights: World) -> None:
    create(world, 0, result="positive")
    create(world, 1, result="negative")
    create(world, 2, result="negative")
    create(world, 3, result=None)
    cancelled = create(world, 0, result=None)
    assert world.call("DELETE", f"/v1/tests/{cancelled}", "pharmacist-a").status_code == 204
    create(world, 0, result="positive", user="pharmacist-b")  # another pharmacy

    query = "/v1/stats?from=2026-11-28&to=2026-11-29"
    response = rights.call("GET", query, "admin-a")
    assert response.status_code == 200, response.body
    body = body_of(response)
    assert [d["date"] for d in body["days"]] == ["2026-11-28", "2026-11-29"]
    day = body["days"][1]
    assert (day["tests"], day["positive"], day["negative"], day["pending"]) == (4, 1, 2, 1)
    assert day["positivity"] == round(1 / 3, 4)
    assert body["days"][0]["tests"] == 0
    assert body["delivery_states"]["ready"] == 3 and body["delivery_states"]["cancelled"] == 1
    assert body["delivery_states"]["pending"] == 1
    (event,) = events("read_stats")
    assert event["actor"] == "admin-a" and event["record_ids"] == []

    other = body_of(rights.call("GET", query, "admin-b"))
    assert other["days"][1]["tests"] == 1 and other["finess"] != PHARMACY_A
    for user in ("pharmacist-a", "operator"):
        assert rights.call("GET", query, user).status_code == 403
    assert rights.call("GET", "/v1/stats?from=2026-01-01&to=2026-11-29", "admin-a").status_code == 400
    assert rights.call("GET", "/v1/stats", "admin-a").status_code == 400


def test_the_export_tells_who_accessed_each_record_from_the_pharmacy_own_chain_only(
    world: World, rights: World
) -> None:
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.audit_chain import AuditEvent

    first = create(world, 0)
    assert world.call("GET", f"/v1/tests/{first}", "pharmacist-a").status_code == 200
    assert world.call("GET", f"/v1/tests/{first}/delivery", "admin-a").status_code == 200
    # another pharmacy probes A's id (journaled on B's chain), and holds its own record of the patient
    assert world.call("GET", f"/v1/tests/{first}", "pharmacist-b").status_code == 404
    theirs = create(world, 0, user="pharmacist-b")
    assert world.call("GET", f"/v1/tests/{theirs}", "pharmacist-b").status_code == 200
    # a platform decision naming the record on A's chain is no access by a member of A
    get_container().journal.append(
        AuditEvent("read", "success", "operator", "platform_admin", PHARMACY_A, record_ids=(first,))
    )

    body = body_of(rights.call("POST", "/v1/patients/search", "pharmacist-a", nir(0)))
    assert body["access_history_complete"] is True
    (record,) = body["records"]
    history = record["access_history"]
    assert [(h["action"], h["role"]) for h in history] == [
        ("create", "pharmacist"),
        ("read", "pharmacist"),
        ("read_delivery", "pharmacy_admin"),
    ]
    assert {h["pharmacy"] for h in history} == {PHARMACY_A}
    assert {h["outcome"] for h in history} == {"success"}
    assert all(set(h) == {"time", "role", "pharmacy", "action", "outcome"} for h in history)
    assert history == sorted(history, key=lambda h: h["time"])
    text = json.dumps(history)
    assert "pharmacist-a" not in text and "admin-a" not in text and "operator" not in text  # roles only
    assert "platform_admin" not in text and PHARMACY_B not in text

    # B's own export shows B's accesses to B's record, nothing of A's
    other = body_of(rights.call("POST", "/v1/patients/search", "pharmacist-b", nir(0)))
    (their_record,) = other["records"]
    assert [(h["action"], h["pharmacy"]) for h in their_record["access_history"]] == [
        ("create", PHARMACY_B),
        ("read", PHARMACY_B),
    ]
