"""Tenant isolation: pharmacy B never sees pharmacy A's records; the platform admin reads no health data."""

from __future__ import annotations

import json

import pytest

from testkit.patients import screening_body
from tests.conftest import PHARMACY_A, PHARMACY_B, World


@pytest.fixture
def record_of_a(world: World) -> str:
    response = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    assert response.status_code == 201
    return str(json.loads(response.body)["id"])


def record_routes(record_id: str) -> list[tuple[str, str, object]]:
    return [
        ("GET", f"/v1/tests/{record_id}", None),
        ("PUT", f"/v1/tests/{record_id}/result", {"result": "positive"}),
        ("DELETE", f"/v1/tests/{record_id}", None),
        ("GET", f"/v1/tests/{record_id}/delivery", None),
        ("POST", f"/v1/tests/{record_id}/withdrawal", None),
    ]


@pytest.mark.parametrize("intruder", ["pharmacist-b", "admin-b"])
def test_another_pharmacy_gets_404_on_every_record_route(
    world: World, record_of_a: str, intruder: str
) -> None:
    for method, path, body in record_routes(record_of_a):
        response = world.call(method, path, intruder, body)
        assert response.status_code == 404, (method, path, response.status_code)
    # and nothing changed for A
    record = json.loads(world.call("GET", f"/v1/tests/{record_of_a}", "pharmacist-a").body)
    assert record["status"] == "ready" and record["test"]["result"] == "negative"


def test_listing_never_shows_another_pharmacys_records(world: World, record_of_a: str) -> None:
    world.call("POST", "/v1/tests", "pharmacist-b", screening_body(1))
    items_b = json.loads(world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-b").body)["items"]
    assert items_b and all(i["finess"] == PHARMACY_B for i in items_b)
    assert record_of_a not in {i["id"] for i in items_b}


def test_platform_admin_gets_403_on_every_record_route(world: World, record_of_a: str) -> None:
    routes = [
        *record_routes(record_of_a),
        ("POST", "/v1/tests", screening_body(0)),
        ("GET", "/v1/tests", None),
    ]
    for method, path, body in routes:
        assert world.call(method, path, "operator", body).status_code == 403, (method, path)


def test_audit_journal_is_for_the_pharmacys_admin_only(world: World, record_of_a: str) -> None:
    assert world.call("GET", "/v1/audit", "pharmacist-a").status_code == 403
    assert world.call("GET", "/v1/audit", "operator").status_code == 403
    events_b = json.loads(world.call("GET", "/v1/audit", "admin-b").body)["items"]
    assert record_of_a not in json.dumps(events_b)
    events_a = json.loads(world.call("GET", "/v1/audit", "admin-a").body)["items"]
    assert any(record_of_a in e["record_ids"] for e in events_a)


def test_a_pharmacy_admin_manages_only_its_own_members(world: World) -> None:
    invite = {"email": "new.pharmacist@example.org", "role": "pharmacist"}
    assert (
        world.call("POST", f"/v1/admin/pharmacies/{PHARMACY_B}/members", "admin-a", invite).status_code == 404
    )
    assert (
        world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_B}/members/pharmacist-b", "admin-a").status_code
        == 404
    )
    assert world.call("GET", "/v1/tests", "pharmacist-b").status_code == 200
    assert (
        world.call("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members", "pharmacist-a", invite).status_code
        == 403
    )
    assert (
        world.call(
            "POST", "/v1/admin/pharmacies", "admin-a", {"finess": "750000028", "name": "X"}
        ).status_code
        == 403
    )


@pytest.mark.parametrize("intruder", ["pharmacist-b", "admin-b"])
def test_a_probe_of_another_pharmacys_record_is_journaled_on_the_prober_chain(
    world: World,
    record_of_a: str,
    intruder: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 404 reveals nothing, and the probe leaves evidence: the first release journaled none."""
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    capsys.readouterr()
    probes = [(m, p, b) for m, p, b in record_routes(record_of_a) if not p.endswith("/withdrawal")]
    for method, path, body in [*probes, ("GET", "/v1/tests/not-a-uuid", None)]:
        assert world.call(method, path, intruder, body).status_code == 404
    denied = [e.event for e in AuditEventModel.query(PHARMACY_B) if e.event["outcome"] == "denied"]
    assert [(e["action"], e["actor"], e["reason"], e["record_ids"]) for e in denied] == [
        ("read", intruder, "not_found", [record_of_a]),
        ("set_result", intruder, "not_found", [record_of_a]),
        ("cancel", intruder, "not_found", [record_of_a]),
        ("read_delivery", intruder, "not_found", [record_of_a]),
        ("read", intruder, "not_found", []),
    ]
    assert not [e for e in AuditEventModel.query(PHARMACY_A) if e.event["actor"] == intruder]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(m.get("AuthFailures", [0])[0] for m in emitted) == 5
