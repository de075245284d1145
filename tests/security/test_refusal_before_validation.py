"""A caller the use case refuses is refused, and journaled, before their body is read.

Views parse a body into a typed command before the use case checks the role. Left at that, a
platform admin posting a malformed body to a health-data route, or a pharmacy's admin aiming
another pharmacy's members with one, got a 400 and left no denied event: probing the routes, or
another pharmacy, with bodies that never parse went unseen by the auditor who reads the denials.
A malformed body from a caller the use case admits stays a 400 naming the field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.payloads import finess_with_check_digit
from tests.conftest import PHARMACY_A, PHARMACY_B, World

MALFORMED: Any = {"unexpected": ["not", "a", "valid", "body"]}
NOBODY_S = finess_with_check_digit("75000099")  # a valid FINESS nobody onboarded
RECORD = "6f1c1a52-51f5-4a39-9b0e-2b2a3f0f8d11"


def _denials(chain: str) -> list[tuple[str, str, str]]:
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    return [
        (e.event["action"], e.event["actor"], e.event["reason"])
        for e in AuditEventModel.query(chain)
        if e.event["outcome"] == "denied"
    ]


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("POST", "/v1/tests", "create"),
        ("POST", "/v1/test-batches", "create"),
        ("PUT", f"/v1/tests/{RECORD}/result", "set_result"),
        ("POST", "/v1/patients/search", "patient_export"),
        ("POST", "/v1/patients/erasure", "patient_erasure"),
    ],
)
def test_a_platform_admin_s_malformed_body_on_a_health_data_route_is_a_journaled_403(
    world: World, method: str, path: str, action: str
) -> None:
    response = world.call(method, path, "operator", MALFORMED)
    assert response.status_code == 403, response.body
    assert _denials("platform") == [(action, "operator", "role")]


def test_a_non_uuid_idempotency_key_from_a_platform_admin_is_a_journaled_403(world: World) -> None:
    response = world.call("POST", "/v1/tests", "operator", MALFORMED, **{"Idempotency-Key": "x" * 40})
    assert response.status_code == 403, response.body
    assert _denials("platform") == [("create", "operator", "role")]


def test_a_pharmacist_s_malformed_onboarding_is_a_journaled_403(world: World) -> None:
    response = world.call("POST", "/v1/admin/pharmacies", "pharmacist-a", MALFORMED)
    assert response.status_code == 403, response.body
    assert _denials(PHARMACY_A) == [("onboard_pharmacy", "pharmacist-a", "role")]


@pytest.mark.parametrize(("method", "route"), [("POST", "members"), ("PUT", "settings")])
def test_another_pharmacy_s_admin_with_a_malformed_body_is_the_journaled_404_of_a_well_formed_one(
    world: World, method: str, route: str
) -> None:
    response = world.call(method, f"/v1/admin/pharmacies/{PHARMACY_B}/{route}", "admin-a", MALFORMED)
    assert response.status_code == 404, response.body
    assert [reason for _, actor, reason in _denials(PHARMACY_A) if actor == "admin-a"] == ["another pharmacy"]


@pytest.mark.parametrize(
    ("method", "path", "user"),
    [
        ("POST", "/v1/tests", "pharmacist-a"),
        ("PUT", f"/v1/tests/{RECORD}/result", "pharmacist-a"),
        ("POST", "/v1/patients/search", "pharmacist-a"),
        ("POST", "/v1/admin/pharmacies", "operator"),
        ("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members", "admin-a"),
        ("PUT", f"/v1/admin/pharmacies/{PHARMACY_A}/settings", "admin-a"),
    ],
)
def test_a_malformed_body_from_an_admitted_caller_is_still_a_400_that_echoes_nothing(
    world: World, method: str, path: str, user: str
) -> None:
    response = world.call(method, path, user, MALFORMED)
    assert response.status_code == 400, response.body
    assert '"valid"' not in json.dumps(json.loads(response.body))  # the values sent, never echoed


@pytest.mark.parametrize("query", ["", "?from=not-a-date"])
def test_a_caller_refused_the_statistics_is_a_journaled_403_whatever_the_query(
    world: World, query: str
) -> None:
    """Before the refactor the statistics' use case checked the role, then read the query."""
    response = world.call("GET", f"/v1/stats{query}", "pharmacist-a")
    assert response.status_code == 403, response.body
    assert _denials(PHARMACY_A) == [("read_stats", "pharmacist-a", "role")]
    assert world.call("GET", f"/v1/stats{query}", "admin-a").status_code == 400


@pytest.mark.parametrize(
    ("user", "path", "action", "chain"),
    [
        ("operator", "/v1/tests?limit=abc", "list", "platform"),
        ("operator", "/v1/audit?limit=abc", "read_audit", "platform"),
        ("pharmacist-a", "/v1/audit?limit=abc", "read_audit", PHARMACY_A),
    ],
)
def test_a_caller_refused_a_listing_is_a_journaled_403_whatever_the_query(
    world: World, user: str, path: str, action: str, chain: str
) -> None:
    """The listings read their query in the view, before the refactor too: the same rule holds."""
    response = world.call("GET", path, user)
    assert response.status_code == 403, response.body
    assert _denials(chain) == [(action, user, "role")]


def test_a_pharmacist_s_malformed_result_is_the_same_400_for_another_pharmacy_s_record_and_for_none(
    world: World,
) -> None:
    """A pharmacist of B (whose role the route admits) learns nothing of A's record ids: a malformed
    body answers the same for A's record and for no record, naming the same field."""
    from testkit.patients import screening_body

    created = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    answers = [
        world.call("PUT", f"/v1/tests/{target}/result", "pharmacist-b", {"result": "not-a-result"})
        for target in (json.loads(created.body)["id"], RECORD)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].body == answers[1].body


@pytest.mark.parametrize(("method", "route"), [("POST", "members"), ("PUT", "settings")])
def test_another_pharmacy_s_admin_gets_the_same_404_for_a_pharmacy_that_exists_and_one_that_does_not(
    world: World, method: str, route: str
) -> None:
    answers = [
        world.call(method, f"/v1/admin/pharmacies/{finess}/{route}", "admin-b", MALFORMED)
        for finess in (PHARMACY_A, NOBODY_S)
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].body == answers[1].body
