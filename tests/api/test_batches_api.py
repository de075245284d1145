"""POST /v1/test-batches through the Chalice test client: each item's outcome, replays, limits."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from testkit.patients import ins_body, personal_needles, screening_body
from tests.conftest import World

DAY = "/v1/tests?date=2026-11-29&limit=100"


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def item(index: int, key: str | None = None, **test: Any) -> dict[str, Any]:
    body = screening_body(index % 4)
    body["test"].update(test)
    return {"key": key or str(uuid.uuid4()), **body}


def listed_ids(world: World, user: str = "pharmacist-a") -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = body_of(world.call("GET", DAY + (f"&cursor={cursor}" if cursor else ""), user))
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def mixed_batch() -> list[dict[str, Any]]:
    """100 items: 94 valid, 3 invalid, a key repeated with its body, a key repeated with another."""
    items = [item(i) for i in range(96)]
    items[10]["patient"]["nir"] = "1 23 45 67 890 123 45"  # fails its key
    items[20]["test"]["kind"] = "pcr"
    items[30] = {"key": "not-a-key", **screening_body(1)}
    repeated = dict(items[5])
    other = {**item(3), "key": items[6]["key"]}  # item 6 is patient 2
    return [*items, repeated, other, item(98), item(99)]


def test_a_hundred_item_batch_answers_each_outcome_in_order(world: World) -> None:
    batch = mixed_batch()
    answer = world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": batch})
    assert answer.status_code == 200, answer.body
    outcomes = body_of(answer)["items"]
    assert [o["index"] for o in outcomes] == list(range(100))
    by_kind = {
        kind: [o["index"] for o in outcomes if o["outcome"] == kind] for kind in ("invalid", "conflict")
    }
    assert by_kind == {"invalid": [10, 20, 30], "conflict": [97]}
    assert {e["field"] for e in outcomes[10]["errors"]} == {"/items/10/patient/nir"}
    assert {e["field"] for e in outcomes[20]["errors"]} == {"/items/20/test/kind"}
    assert outcomes[30]["key"] is None and outcomes[30]["errors"][0]["field"] == "/items/30/key"
    assert outcomes[97]["errors"] == [
        {"field": "/items/97/key", "code": "idempotency_key_reused", "message": "was used with another body"}
    ]
    assert outcomes[96]["id"] == outcomes[5]["id"]  # the same key and body: the same record
    created = [o for o in outcomes if o["outcome"] == "created"]
    assert all(o["location"] == f"/v1/tests/{o['id']}" for o in created)
    assert sorted(listed_ids(world)) == sorted({o["id"] for o in created})
    assert len(set(listed_ids(world))) == 95
    text = answer.body.decode() if isinstance(answer.body, bytes) else str(answer.body)
    assert not [needle for needle in personal_needles() if needle in text]


def test_a_replay_after_a_cut_answer_answers_the_same_and_creates_nothing(world: World) -> None:
    batch = mixed_batch()
    first = body_of(world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": batch}))
    # The tablet never got the answer: it sends the whole batch again, then only its second half.
    again = body_of(world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": batch}))
    assert again == first
    half = body_of(world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": batch[50:]}))

    def seen(outcomes: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
        return [(o["outcome"], o["id"]) for o in outcomes]

    assert seen(half["items"]) == seen(first["items"][50:])
    assert half["items"][47]["errors"][0]["field"] == "/items/47/key"  # the batch's 97th, now its 47th
    assert len(listed_ids(world)) == 95


def test_an_item_key_replays_a_single_create_with_that_idempotency_key(world: World) -> None:
    key = str(uuid.uuid4())
    single = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(1), **{"Idempotency-Key": key})
    batch = body_of(
        world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": [{"key": key, **screening_body(1)}]})
    )
    assert batch["items"][0]["id"] == body_of(single)["id"]
    assert len(listed_ids(world)) == 1


def test_two_devices_replaying_at_once_create_nothing_twice(world: World) -> None:
    batch = [item(i) for i in range(60)]
    answers: list[Any] = []
    start = threading.Barrier(2)

    def replay() -> None:
        start.wait()
        answers.append(world.call("POST", "/v1/test-batches", "pharmacist-a", {"items": batch}))

    threads = [threading.Thread(target=replay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200], [a.body for a in answers]
    first, second = (body_of(a)["items"] for a in answers)
    assert [o["id"] for o in first] == [o["id"] for o in second]
    assert {o["outcome"] for o in first + second} == {"created"}
    assert len(listed_ids(world)) == 60


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [item(0)] * 101}, "items"),
        ({"items": {}}, "items"),
        ({"records": []}, "records"),
    ],
)
def test_a_batch_outside_its_limits_is_a_400_naming_the_field(world: World, body: Any, field: str) -> None:
    answer = world.call("POST", "/v1/test-batches", "pharmacist-a", body)
    assert answer.status_code == 400
    assert field in {e["field"] for e in body_of(answer)["errors"]}
    assert len(listed_ids(world)) == 0


def test_a_hundred_records_with_their_identity_traits_fit_the_body_size_limit(world: World) -> None:
    """100 records with INS traits, address and contact (what docs/api.md promises) pass MAX_BODY_BYTES."""
    from chalicelib.config import Settings

    batch = {"items": [{"key": str(uuid.uuid4()), **ins_body(i % 2)} for i in range(100)]}
    assert len(json.dumps(batch).encode()) < Settings().max_body_bytes
    answer = world.call("POST", "/v1/test-batches", "pharmacist-a", batch)
    assert answer.status_code == 200, answer.body
    assert {o["outcome"] for o in body_of(answer)["items"]} == {"created"}


def test_a_batch_over_the_body_size_limit_is_a_413_and_writes_nothing(world: World) -> None:
    batch = {"items": [item(i) for i in range(100)]}
    batch["items"][0]["padding"] = "x" * 70_000
    assert world.call("POST", "/v1/test-batches", "pharmacist-a", batch).status_code == 413
    assert listed_ids(world) == []
