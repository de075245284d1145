"""A forged or foreign cursor is a 400 on `cursor`: never a 500, never another listing."""

from __future__ import annotations

import base64
import json

from testkit.patients import screening_body
from tests.conftest import PHARMACY_A, PHARMACY_B, World


def _cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_from_another_pharmacy_or_forged_is_refused(world: World) -> None:
    for _ in range(3):
        world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    page = json.loads(world.call("GET", "/v1/tests?date=2026-11-29&limit=1", "pharmacist-a").body)
    assert page["next_cursor"]
    foreign = world.call("GET", f"/v1/tests?date=2026-11-29&cursor={page['next_cursor']}", "pharmacist-b")
    assert foreign.status_code == 400
    forged = [
        _cursor({"f": PHARMACY_B, "k": {}}),
        _cursor({"f": PHARMACY_A, "k": {"finess": {"S": PHARMACY_B}, "record_id": {"S": "x"}}}),
        _cursor({"f": PHARMACY_A, "k": {"nonsense": {"S": "x"}}}),
        _cursor({"f": PHARMACY_A, "k": {"finess_day": {"N": "1"}}}),
        _cursor([1, 2]),
        "not-base64-!!",
    ]
    for cursor in forged:
        response = world.call("GET", f"/v1/tests?date=2026-11-29&cursor={cursor}", "pharmacist-a")
        assert response.status_code == 400, (cursor, response.status_code, response.body)


def test_a_forged_audit_cursor_is_refused(world: World) -> None:
    world.call("GET", "/v1/tests", "pharmacist-a")
    forged = [
        _cursor({"f": PHARMACY_B, "k": {}}),
        _cursor({"chain": PHARMACY_B, "seq": 1}),
        _cursor({"c": PHARMACY_A, "s": "x"}),
        _cursor([1, 2]),
        "not-base64-!!",
    ]
    for cursor in forged:
        response = world.call("GET", f"/v1/audit?cursor={cursor}", "admin-a")
        assert response.status_code == 400, (cursor, response.status_code, response.body)
    for _ in range(2):
        world.call("POST", "/v1/tests", "pharmacist-b", screening_body(1))
    other = json.loads(world.call("GET", "/v1/audit?limit=1", "admin-b").body)
    assert other["next_cursor"]
    assert world.call("GET", f"/v1/audit?cursor={other['next_cursor']}", "admin-a").status_code == 400


def _record_key(**changes: object) -> dict[str, object]:
    key: dict[str, object] = {
        "finess": {"S": PHARMACY_A},
        "finess_day": {"S": f"{PHARMACY_A}#2026-11-29"},
        "record_id": {"S": "0b6f2a52-6f0e-4c2a-9a53-8d4f0c1e2a3b"},
        "created_at": {"S": "2026-11-29T09:15:00Z"},
    }
    key.update(changes)
    return {"f": PHARMACY_A, "k": key}


def test_a_record_cursor_whose_key_values_dynamodb_would_refuse_is_a_400_on_cursor(world: World) -> None:
    """Each of these decoded before and reached DynamoDB, which refuses them (500/503 off moto)."""
    well_formed = world.call(
        "GET", f"/v1/tests?date=2026-11-29&cursor={_cursor(_record_key())}", "pharmacist-a"
    )
    assert well_formed.status_code == 200  # the shape this listing writes is accepted
    forged = [
        _record_key(record_id={"S": ""}),
        _record_key(created_at={"S": ""}),
        _record_key(record_id={"S": "x" * 2000}),
        _record_key(record_id={"S": "0B6F2A52-6F0E-4C2A-9A53-8D4F0C1E2A3B"}),
        _record_key(created_at={"S": "2026-13-45T99:99:99Z"}),
        _record_key(created_at={"S": "yesterday"}),
        _record_key(record_id={"S": True}),
        _record_key(record_id={"N": "1"}),
    ]
    for data in forged:
        response = world.call("GET", f"/v1/tests?date=2026-11-29&cursor={_cursor(data)}", "pharmacist-a")
        assert response.status_code == 400, (data, response.status_code, response.body)
        assert [e["field"] for e in json.loads(response.body)["errors"]] == ["cursor"]
    too_long = "A" * 5000
    assert (
        world.call("GET", f"/v1/tests?date=2026-11-29&cursor={too_long}", "pharmacist-a").status_code == 400
    )


def test_an_audit_cursor_whose_values_dynamodb_would_refuse_is_a_400_on_cursor(world: World) -> None:
    for _ in range(2):
        world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    issued = json.loads(world.call("GET", "/v1/audit?limit=1", "admin-a").body)["next_cursor"]
    assert world.call("GET", f"/v1/audit?cursor={issued}", "admin-a").status_code == 200
    moment = "2026-11-29T10:00:00.000000Z"
    forged = [
        {"c": PHARMACY_A, "s": True, "t": moment},
        {"c": PHARMACY_A, "s": False, "t": moment},
        {"c": PHARMACY_A, "s": 10**60, "t": moment},
        {"c": PHARMACY_A, "s": 0, "t": moment},
        {"c": PHARMACY_A, "s": -1, "t": moment},
        {"c": PHARMACY_A, "s": 1.5, "t": moment},
        {"c": PHARMACY_A, "s": 1, "t": ""},
        {"c": PHARMACY_A, "s": 1, "t": "2026-11-29"},
        {"c": PHARMACY_A, "s": 1, "t": "2026-11-29T10:00:00Z"},
        {"c": PHARMACY_A, "s": 1, "t": 5},
        {"c": "", "s": 1, "t": moment},
        {"c": PHARMACY_A, "s": 1},
        "just a string",
    ]
    for data in forged:
        response = world.call("GET", f"/v1/audit?cursor={_cursor(data)}", "admin-a")
        assert response.status_code == 400, (data, response.status_code, response.body)
        assert [e["field"] for e in json.loads(response.body)["errors"]] == ["cursor"]
