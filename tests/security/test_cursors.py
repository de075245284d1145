"""A forged or foreign cursor is a 400 on `cursor`: never a 500, never another listing."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import PHARMACY_A, PHARMACY_B, World
from tests.patients import test_body

pytestmark = pytest.mark.security


def _cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_from_another_pharmacy_or_forged_is_refused(world: World) -> None:
    for _ in range(3):
        world.call("POST", "/v1/tests", "pharmacist-a", test_body(0))
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
        world.call("POST", "/v1/tests", "pharmacist-b", test_body(1))
    other = json.loads(world.call("GET", "/v1/audit?limit=1", "admin-b").body)
    assert other["next_cursor"]
    assert world.call("GET", f"/v1/audit?cursor={other['next_cursor']}", "admin-a").status_code == 400
