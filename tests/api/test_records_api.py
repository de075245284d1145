"""The record routes through the Chalice test client: the pharmacist's whole journey and its errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from testkit.patients import personal_needles, screening_body
from tests.conftest import PHARMACY_A, World


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def assert_no_personal_value(response: Any) -> None:
    text = response.body.decode() if isinstance(response.body, bytes) else str(response.body)
    for needle in personal_needles():
        assert needle not in text, "an error body echoes a personal value"


def test_create_read_list_set_result_cancel(world: World) -> None:
    created = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0, result=None))
    assert created.status_code == 201, created.body
    record = body_of(created)
    assert created.headers["Location"] == f"/v1/tests/{record['id']}"
    assert record["finess"] == PHARMACY_A and record["status"] == "pending"
    assert record["created_by"] == "pharmacist-a"
    assert record["patient"]["nir"] == "295109912611193"

    read = world.call("GET", f"/v1/tests/{record['id']}", "pharmacist-a")
    assert read.status_code == 200 and body_of(read)["patient"]["last_name"] == "Dupont"

    listed = world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a")
    assert listed.status_code == 200
    items = body_of(listed)["items"]
    assert [i["id"] for i in items] == [record["id"]]
    assert "patient" not in items[0]

    updated = world.call("PUT", f"/v1/tests/{record['id']}/result", "pharmacist-a", {"result": "positive"})
    assert updated.status_code == 200, updated.body
    assert body_of(updated)["test"]["result"] == "positive" and body_of(updated)["status"] == "ready"

    delivery = world.call("GET", f"/v1/tests/{record['id']}/delivery", "pharmacist-a")
    assert delivery.status_code == 200 and body_of(delivery)["state"] == "queued"

    cancelled = world.call("DELETE", f"/v1/tests/{record['id']}", "pharmacist-a")
    assert cancelled.status_code == 204
    assert body_of(world.call("GET", f"/v1/tests/{record['id']}", "pharmacist-a"))["status"] == "cancelled"


def test_list_is_paginated_with_a_cursor(world: World) -> None:
    ids = {
        body_of(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(i % 4)))["id"]
        for i in range(5)
    }
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = "/v1/tests?date=2026-11-29&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = body_of(world.call("GET", query, "pharmacist-a"))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)


def test_idempotent_replay_returns_the_first_record_and_creates_nothing(world: World) -> None:
    key = str(uuid.uuid4())
    first = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(1), **{"Idempotency-Key": key})
    again = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(1), **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert body_of(first) == body_of(again)
    listed = body_of(world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a"))["items"]
    assert len(listed) == 1


def test_reused_idempotency_key_with_another_body_is_409(world: World) -> None:
    key = str(uuid.uuid4())
    assert (
        world.call(
            "POST", "/v1/tests", "pharmacist-a", screening_body(1), **{"Idempotency-Key": key}
        ).status_code
        == 201
    )
    other = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(2), **{"Idempotency-Key": key})
    assert other.status_code == 409
    assert other.headers["Content-Type"] == "application/problem+json"
    assert_no_personal_value(other)


def test_wrong_content_type_is_415(world: World) -> None:
    response = world.client.http.post(
        "/v1/tests",
        headers={"Authorization": f"Bearer {world.token('pharmacist-a')}", "Content-Type": "text/plain"},
        body=json.dumps(screening_body(0)),
    )
    assert response.status_code == 415
    assert body_of(response)["status"] == 415


def test_invalid_body_lists_every_field_and_echoes_nothing(world: World) -> None:
    body = screening_body(0)
    body["patient"]["nir"] = "2 95 10 99 126 111 94"  # wrong key
    body["patient"]["email"] = "jeanne.dupont@@example.org"
    body["patient"]["birth_date"] = "2999-01-01"
    body["test"]["sampled_at"] = "2026-11-29T10:15:00"  # no timezone
    body["patient"]["shoe_size"] = 38
    response = world.call("POST", "/v1/tests", "pharmacist-a", body)
    assert response.status_code == 400
    problem = body_of(response)
    assert response.headers["Content-Type"] == "application/problem+json"
    fields = {e["field"] for e in problem["errors"]}
    assert {
        "patient.nir",
        "patient.email",
        "patient.birth_date",
        "test.sampled_at",
        "patient.shoe_size",
    } <= fields
    assert_no_personal_value(response)
    assert "2 95 10 99 126 111 94" not in response.body.decode()
    assert "jeanne.dupont@@example.org" not in response.body.decode()


def test_malformed_json_is_400(world: World) -> None:
    response = world.client.http.post("/v1/tests", headers=world.headers("pharmacist-a"), body="{not json")
    assert response.status_code == 400 and body_of(response)["errors"][0]["field"] == "body"


def test_set_result_on_a_cancelled_test_is_409(world: World) -> None:
    record = body_of(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0, result=None)))
    assert world.call("DELETE", f"/v1/tests/{record['id']}", "pharmacist-a").status_code == 204
    assert (
        world.call(
            "PUT", f"/v1/tests/{record['id']}/result", "pharmacist-a", {"result": "negative"}
        ).status_code
        == 409
    )


def test_unknown_or_malformed_ids_are_404(world: World) -> None:
    assert world.call("GET", f"/v1/tests/{uuid.uuid4()}", "pharmacist-a").status_code == 404
    assert world.call("GET", "/v1/tests/not-a-uuid", "pharmacist-a").status_code == 404


def test_every_response_carries_the_security_headers(world: World) -> None:
    for response in (
        world.client.http.get("/v1/health"),
        world.call("GET", "/v1/tests", "pharmacist-a"),
        world.call("GET", "/v1/tests", None),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Access-Control-Allow-Origin" not in response.headers


def test_the_record_shows_the_device_s_name_from_the_eu_common_list(world: World) -> None:
    created = body_of(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0)))
    assert created["test"]["device_id"] == "1232"
    assert created["test"]["device_name"] == "Abbott Rapid Diagnostics, Panbio COVID-19 Ag Rapid Test"
    listed = body_of(world.call("GET", f"/v1/tests?date={created['day']}", "pharmacist-a"))["items"]
    assert listed[0]["test"]["device_name"] == created["test"]["device_name"]


@pytest.mark.parametrize(
    ("device_id", "code", "message"),
    [
        ("8765432", "device_not_listed", "is not on the EU common list of test devices"),
        # left on 2021-05-11
        ("1242", "device_delisted", "was no longer on the EU common list on the sampling day"),
    ],
)
def test_a_device_off_the_eu_common_list_is_400_naming_the_field(
    world: World, device_id: str, code: str, message: str
) -> None:
    body = screening_body(0)
    body["test"]["device_id"] = device_id
    response = world.call("POST", "/v1/tests", "pharmacist-a", body)
    assert response.status_code == 400
    assert body_of(response)["errors"] == [{"field": "test.device_id", "code": code, "message": message}]
    assert device_id not in response.body.decode()
    assert_no_personal_value(response)


def test_the_identity_status_is_derived_by_the_server_through_the_local_insi_fake(world: World) -> None:
    from testkit.patients import ins_body

    qualified = body_of(world.call("POST", "/v1/tests", "pharmacist-a", ins_body(1, "identity_card")))
    assert qualified["patient"]["identity_status"] == "qualified"
    assert qualified["patient"]["birth_place"] == "78006"
    recovered = body_of(world.call("POST", "/v1/tests", "pharmacist-a", ins_body(0, "none")))
    assert recovered["patient"]["identity_status"] == "recovered"
    plain = body_of(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0)))
    assert plain["patient"]["identity_status"] == "provisional"
    claimed = screening_body(0)
    claimed["patient"]["identity_status"] = "qualified"
    refused = world.call("POST", "/v1/tests", "pharmacist-a", claimed)
    assert refused.status_code == 400
    assert body_of(refused)["errors"] == [
        {"field": "patient.identity_status", "code": "unknown_field", "message": "is not an allowed field"}
    ]
