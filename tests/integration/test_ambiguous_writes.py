"""An ambiguous write never answers a false conflict: a create, a result or a cancel whose
transaction committed but whose answer was lost (a read timeout) answers as if the first attempt
had returned, whether the retry is botocore's with the transaction's ClientRequestToken (honoured,
as DynamoDB does, by devtools/moto_atomic.py), a retry that finds its own write (a token ignored,
as plain moto did, or expired), or no retry left at all (the service checks its own link)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from testkit.patients import screening_body
from tests.conftest import World

TRANSACTION = "before-send.dynamodb.TransactWriteItems"


class LostAnswers:
    """The transport, as seen by botocore: the next armed TransactWriteItems is committed by moto,
    then its answer is lost (ReadTimeoutError). What the retries find depends on `mode`:
      * "token": botocore's retry reaches moto with the same ClientRequestToken;
      * "no-token": the retry reaches moto without it (plain moto, or a token past its 10 minutes);
      * "no-answer": every retry times out too, without reaching moto."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.armed = False
        self.lost = 0
        self.retries_reaching_moto = 0

    def wrap(self, original: Any) -> Any:
        def call(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if not event_name.startswith(TRANSACTION) or not (self.armed or self.lost):
                return original(stubber, event_name, request, **kwargs)
            if self.armed:  # the first attempt: committed, its answer lost
                self.armed = False
                original(stubber, event_name, request, **kwargs)
                self.lost += 1
                raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)
            if self.mode == "no-answer":
                raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)
            self.lost = 0
            self.retries_reaching_moto += 1
            if self.mode == "no-token":
                body = json.loads(request.body)
                body.pop("ClientRequestToken", None)
                request.body = json.dumps(body).encode()
            return original(stubber, event_name, request, **kwargs)

        return call


@pytest.fixture(params=["token", "no-token", "no-answer"])
def lost_answers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[LostAnswers]:
    faults = LostAnswers(request.param)
    monkeypatch.setattr(BotocoreStubber, "__call__", faults.wrap(BotocoreStubber.__call__))
    yield faults


def _records_of_the_day(world: World) -> list[str]:
    page = json.loads(world.call("GET", "/v1/tests?date=2026-11-29&limit=100", "pharmacist-a").body)
    return [item["id"] for item in page["items"]]


def _events(world: World, action: str, record_id: str) -> int:
    answer = json.loads(world.call("GET", "/v1/audit?limit=500", "admin-a").body)
    return sum(1 for e in answer["items"] if e["action"] == action and record_id in e.get("record_ids", []))


def test_a_create_whose_answer_was_lost_is_a_201_with_its_record_not_a_409(
    world: World, lost_answers: LostAnswers
) -> None:
    lost_answers.armed = True
    response = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    assert lost_answers.lost == 1 or lost_answers.mode != "no-answer"  # the fault did happen
    assert response.status_code == 201, response.body
    record = json.loads(response.body)
    stored = json.loads(world.call("GET", f"/v1/tests/{record['id']}", "pharmacist-a").body)
    assert stored == record
    assert _records_of_the_day(world) == [record["id"]]  # once
    assert _events(world, "create", record["id"]) == 1
    if lost_answers.mode != "no-answer":
        assert lost_answers.retries_reaching_moto == 1


def test_a_result_whose_answer_was_lost_is_a_200_with_the_result_not_a_409(
    world: World, lost_answers: LostAnswers
) -> None:
    created = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(1, result=None)).body)
    lost_answers.armed = True
    path = f"/v1/tests/{created['id']}/result"
    response = world.call("PUT", path, "pharmacist-a", {"result": "positive"})
    assert response.status_code == 200, response.body
    answer = json.loads(response.body)
    assert answer["test"]["result"] == "positive"
    stored = json.loads(world.call("GET", f"/v1/tests/{created['id']}", "pharmacist-a").body)
    assert stored == answer
    assert _events(world, "set_result", created["id"]) == 1


def test_a_cancel_whose_answer_was_lost_is_a_204_not_a_409(world: World, lost_answers: LostAnswers) -> None:
    created = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(2, result=None)).body)
    lost_answers.armed = True
    response = world.call("DELETE", f"/v1/tests/{created['id']}", "pharmacist-a")
    assert response.status_code == 204, response.body
    stored = json.loads(world.call("GET", f"/v1/tests/{created['id']}", "pharmacist-a").body)
    assert stored["status"] == "cancelled"
    assert _events(world, "cancel", created["id"]) == 1
