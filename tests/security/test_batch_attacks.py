"""What an attacker tries with POST /v1/test-batches: another pharmacy replaying A's keys, the
platform admin writing health data, a token-less call, an item that quotes values in its errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

from testkit.patients import personal_needles, screening_body
from tests.conftest import World

DAY = "/v1/tests?date=2026-11-29"


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def batch(*indexes: int) -> dict[str, Any]:
    return {"items": [{"key": str(uuid.uuid4()), **screening_body(i)} for i in indexes]}


def test_another_pharmacy_replaying_a_batch_never_gets_a_records(world: World) -> None:
    sent = batch(0, 1, 2)
    of_a = body_of(world.call("POST", "/v1/test-batches", "pharmacist-a", sent))["items"]
    of_b = body_of(world.call("POST", "/v1/test-batches", "pharmacist-b", sent))["items"]
    # A key belongs to its pharmacy: B's replay creates B's own records, never answers A's ids.
    assert not {o["id"] for o in of_a} & {o["id"] for o in of_b}
    for outcome in of_a:
        assert world.call("GET", outcome["location"], "pharmacist-b").status_code == 404
    assert len(body_of(world.call("GET", DAY, "pharmacist-a"))["items"]) == 3


def test_the_platform_admin_and_an_anonymous_caller_cannot_post_a_batch(world: World) -> None:
    refused = world.call("POST", "/v1/test-batches", "operator", batch(0))
    assert refused.status_code == 403
    assert world.call("POST", "/v1/test-batches", None, batch(0)).status_code == 401
    assert body_of(world.call("GET", DAY, "pharmacist-a"))["items"] == []
    assert body_of(world.call("GET", DAY, "pharmacist-b"))["items"] == []


def test_an_invalid_item_quotes_no_value(world: World) -> None:
    sent = batch(0, 1, 2, 3)
    for item in sent["items"]:
        item["patient"]["nir"] = item["patient"]["nir"][:-2] + "00"  # a wrong key, valid shape
        item["patient"]["birth_date"] = "31/02/1990"
        item["unknown " + item["patient"]["last_name"]] = 1  # an unknown key that is a value
    answer = world.call("POST", "/v1/test-batches", "pharmacist-a", sent)
    assert answer.status_code == 200
    text = answer.body.decode() if isinstance(answer.body, bytes) else str(answer.body)
    assert {o["outcome"] for o in body_of(answer)["items"]} == {"invalid"}
    assert not [needle for needle in personal_needles() if needle in text]
