"""Every declared route, called by the platform admin and by another pharmacy's members against
pharmacy A: none answers a 5xx, none answers with A's record ids or its patients' values, and every
refusal (403, or the 404 of another pharmacy's record) leaves a denied event naming its caller.

The routes come from the app's declarations, so a route added later is swept without a word here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import app
from chalicelib.api.routing import Access, declared
from testkit.patients import PATIENTS, personal_needles, screening_body
from tests.conftest import PHARMACY_A, PHARMACY_B, World

INTRUDERS = ("operator", "pharmacist-b", "admin-b")
_BODIES: dict[str, Any] = {
    "/v1/tests/{record_id}/result": {"result": "positive"},
    "/v1/patients/erasure": {"nir": PATIENTS[0]["nir"]},
}


def _bearer_routes() -> list[tuple[str, str, Any]]:
    routes = []
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            route = declared(entry.view_function)
            assert route is not None
            if route.access is Access.BEARER and path != "/v1/session/logout":
                routes.append((method, path, route.example))
    return routes


def _denials(actor: str) -> int:
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    return sum(
        1
        for chain in ("platform", PHARMACY_A, PHARMACY_B)
        for e in AuditEventModel.query(chain)
        if e.event["outcome"] == "denied" and e.event["actor"] == actor
    )


def _alert_of_pharmacy_a(record_id: str) -> str:
    """An alert of the journal's review at A, naming its record (the alerts routes' target)."""
    from datetime import UTC, datetime

    from chalicelib.bootstrap import get_container
    from chalicelib.domain.alerts import Alert

    now = datetime.now(UTC)
    alert = Alert(PHARMACY_A, "bulk_reads", "pharmacist-a", now, now, 1, 1, (record_id,))
    get_container().alerts.raise_alert(alert, at=now)
    return alert.alert_id


@pytest.mark.parametrize("intruder", INTRUDERS)
def test_no_declared_route_gives_another_caller_pharmacy_a_s_data(world: World, intruder: str) -> None:
    created = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    record_id = json.loads(created.body)["id"]
    import_id = json.loads(world.call("POST", "/v1/imports", "pharmacist-a").body)["id"]
    alert_id = _alert_of_pharmacy_a(record_id)
    needles = [record_id, import_id, *personal_needles()]
    for method, pattern, example in _bearer_routes():
        path = pattern.format(
            record_id=record_id,
            finess=PHARMACY_A,
            username="pharmacist-a",
            import_id=import_id,
            alert_id=alert_id,
        )
        body = example if example is not None else _BODIES.get(pattern)
        before = _denials(intruder)
        response = world.call(method, path, intruder, body)
        text = response.body.decode()
        unpublished = pattern == "/v1/audit/public-key" and response.status_code == 503  # no checkpoint yet
        assert response.status_code < 500 or unpublished, (method, pattern, response.body)
        if (method, pattern) != ("POST", "/v1/tests"):  # a create is at the caller's own pharmacy
            assert not [n for n in needles if n and n in text], (method, pattern, intruder)
        own_id_refused = response.status_code == 404 and ("record_id" in pattern or "import_id" in pattern)
        if response.status_code == 403 or own_id_refused:
            assert _denials(intruder) > before, (method, pattern, intruder, response.body)
