"""Offline capture through the API: a record entered on a tablet days ago is accepted within the
offline window, its device's capture time stored beside the server's receipt time (not in the
encrypted patient blob) and shown in the record; a sample older than the window is refused, in a
single create and in a batch alike, quoting nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from testkit.patients import screening_body
from tests.conftest import PHARMACY_A, World

PARIS_WINTER = timezone(timedelta(hours=1))


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def moment(ago: timedelta) -> str:
    return (datetime.now(UTC) - ago).replace(microsecond=0).astimezone(PARIS_WINTER).isoformat()


def offline_body(sampled_ago: timedelta, captured_ago: timedelta | None) -> dict[str, Any]:
    body = screening_body(1, sampled_at=moment(sampled_ago))
    if captured_ago is not None:
        body["test"]["captured_at"] = moment(captured_ago)
    return body


@pytest.fixture
def deployed_window(world: World) -> Iterator[int]:
    """The app with the deployed default window (the tests' stack widens it for its fixed-day
    examples: devtools/provision.py)."""
    from chalicelib import bootstrap
    from chalicelib.config import Settings, get_settings

    window = Settings().offline_window_days
    bootstrap._container = bootstrap.build(replace(get_settings(), offline_window_days=window))
    yield window
    bootstrap.reset()


def test_a_record_captured_offline_keeps_the_devices_time_beside_the_servers(
    world: World, deployed_window: int
) -> None:
    from chalicelib.adapters.dynamodb.models import RecordModel

    body = offline_body(timedelta(days=deployed_window - 1, hours=2), timedelta(days=deployed_window - 1))
    created = world.call("POST", "/v1/tests", "pharmacist-a", body, **{"Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.body
    record = body_of(created)
    captured = body["test"]["captured_at"]
    assert record["test"]["captured_at"] == captured  # with the device's offset
    assert record["test"]["sampled_at"] == body["test"]["sampled_at"]
    assert record["created_at"].endswith("Z")  # the server's receipt, now
    received = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    assert received - datetime.fromisoformat(captured) > timedelta(days=deployed_window - 2)

    read = body_of(world.call("GET", f"/v1/tests/{record['id']}", "pharmacist-a"))
    assert read["test"]["captured_at"] == captured and read["created_at"] == record["created_at"]
    item = RecordModel.get(PHARMACY_A, record["id"])
    assert item.captured_at == captured and item.created_at == record["created_at"]  # in clear, beside


def test_a_record_without_a_capture_time_shows_null(world: World) -> None:
    created = world.call("POST", "/v1/tests", "pharmacist-a", offline_body(timedelta(hours=1), None))
    assert created.status_code == 201, created.body
    assert body_of(created)["test"]["captured_at"] is None


def test_a_sample_older_than_the_window_is_refused_alone_and_in_a_batch(
    world: World, deployed_window: int
) -> None:
    late = offline_body(timedelta(days=deployed_window, hours=1), timedelta(days=deployed_window, minutes=30))
    alone = world.call("POST", "/v1/tests", "pharmacist-a", late)
    assert alone.status_code == 400
    problem = body_of(alone)
    assert {e["field"] for e in problem["errors"]} == {"test.sampled_at", "test.captured_at"}
    for value in (late["test"]["sampled_at"], late["test"]["captured_at"]):
        assert value[:19] not in alone.body.decode()  # nor its date-time without the offset

    fresh = offline_body(timedelta(days=1, hours=1), timedelta(days=1))
    batch = {"items": [{"key": str(uuid.uuid4()), **late}, {"key": str(uuid.uuid4()), **fresh}]}
    answer = world.call("POST", "/v1/test-batches", "pharmacist-a", batch)
    assert answer.status_code == 200, answer.body
    first, second = body_of(answer)["items"]
    assert first["outcome"] == "invalid" and {e["field"] for e in first["errors"]} == {
        "/items/0/test/sampled_at",
        "/items/0/test/captured_at",
    }
    assert second["outcome"] == "created"
    read = body_of(world.call("GET", second["location"], "pharmacist-a"))
    assert read["test"]["captured_at"] == fresh["test"]["captured_at"]
    assert late["test"]["sampled_at"][:19] not in answer.body.decode()


def test_a_batch_item_replayed_with_another_capture_time_is_a_conflict_not_a_second_record(
    world: World,
) -> None:
    key = str(uuid.uuid4())
    entered = offline_body(timedelta(days=1, hours=1), timedelta(days=1))
    first = body_of(
        world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": [{"key": key, **entered}]})
    )
    (created,) = first["items"]
    assert created["outcome"] == "created"

    again = body_of(
        world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": [{"key": key, **entered}]})
    )
    assert again["items"][0]["outcome"] == "created" and again["items"][0]["id"] == created["id"]

    moved = json.loads(json.dumps(entered))
    moved["test"]["captured_at"] = moment(timedelta(days=1, minutes=-3))
    other = body_of(
        world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": [{"key": key, **moved}]})
    )
    assert other["items"][0]["outcome"] == "conflict" and other["items"][0]["id"] is None
