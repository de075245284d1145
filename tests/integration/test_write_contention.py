"""A write that meets another transaction on its item (DynamoDB's TransactionConflict, documented as
retryable: the export's lease of the record, another request's link) is tried again, and decided
again where that transaction changed what it was decided on: never a 503 while another attempt can
succeed, never applied twice, never past "already sent".

moto runs its writes one at a time, so it never answers TransactionConflict: the transport answers
it here as DynamoDB does (a TransactWriteItems cancelled with the reason TransactionConflict on the
item another transaction holds, or a single-item write refused with TransactionConflictException),
after the other writer's change (the export's lease) is committed when the scenario says so."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.dynamodb.models import AuditEventModel, RecordModel, SentMarkerModel
from chalicelib.bootstrap import audit_journal
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import AuditEvent
from testkit.patients import screening_body
from tests.conftest import PHARMACY_A, World

_TRANSACT = "before-send.dynamodb.TransactWriteItems"
_PUT = "before-send.dynamodb.PutItem"


def _error(request: Any, code: str, **extra: Any) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code, **extra})
    headers: Any = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, 400, headers, MockRawResponse(body))


def _is_record_update(item: dict[str, Any], record_id: str) -> bool:
    key = (item.get("Update") or {}).get("Key", {})
    return bool(key.get("record_id", {}).get("S") == record_id and "seq" not in key)


class OtherWriters:
    """The transport: the next `conflicts` transactions that update `record_id` are cancelled with
    TransactionConflict on the record (after `meanwhile` ran: the other writer's change, committed),
    and the next `link_conflicts` PutItems of an audit link are refused with
    TransactionConflictException (another request's transaction is writing that seq)."""

    def __init__(self) -> None:
        self.record_id = ""
        self.conflicts = 0
        self.link_conflicts = 0
        self.meanwhile: Callable[[], None] | None = None
        self.answered: list[str] = []

    def wrap(self, original: Any) -> Any:
        def call(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if event_name.startswith(_TRANSACT) and self.conflicts:
                items = json.loads(request.body)["TransactItems"]
                if any(_is_record_update(item, self.record_id) for item in items):
                    self.conflicts -= 1
                    if self.meanwhile is not None:
                        self.meanwhile()
                        self.meanwhile = None
                    reasons = [
                        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                        if _is_record_update(item, self.record_id)
                        else {"Code": "None"}
                        for item in items
                    ]
                    self.answered.append("TransactionCanceledException")
                    return _error(request, "TransactionCanceledException", CancellationReasons=reasons)
            if event_name.startswith(_PUT) and self.link_conflicts:
                item = json.loads(request.body).get("Item", {})
                if "seq" in item and "hash" in item:
                    self.link_conflicts -= 1
                    self.answered.append("TransactionConflictException")
                    return _error(request, "TransactionConflictException")
            return original(stubber, event_name, request, **kwargs)

        return call


@pytest.fixture
def others(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtherWriters]:
    writers = OtherWriters()
    monkeypatch.setattr(BotocoreStubber, "__call__", writers.wrap(BotocoreStubber.__call__))
    yield writers


def _lease(record_id: str) -> Callable[[], None]:
    """The export's lease, as far as a result cares: "already sent" set on the record and its
    write-once marker created (export_queue.py writes both in one transaction)."""

    def lease() -> None:
        item = RecordModel.get(PHARMACY_A, record_id, consistent_read=True)
        item.update(actions=[RecordModel.first_sent_at.set("2026-11-29T10:20:00Z")])
        SentMarkerModel(PHARMACY_A, record_id, first_sent_at="2026-11-29T10:20:00Z").save()

    return lease


def _create(world: World, index: int, result: str | None) -> dict[str, Any]:
    response = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(index, result=result))
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def _stored(record_id: str) -> RecordModel:
    return RecordModel.get(PHARMACY_A, record_id, consistent_read=True)


def _events(world: World, action: str, record_id: str) -> int:
    answer = json.loads(world.call("GET", "/v1/audit?limit=500", "admin-a").body)
    return sum(1 for e in answer["items"] if e["action"] == action and record_id in e.get("record_ids", []))


def test_a_repeated_result_whose_event_meets_another_transaction_on_its_link_is_a_200_not_a_503(
    world: World, others: OtherWriters
) -> None:
    created = _create(world, 0, result="positive")
    version = _stored(created["id"]).version
    others.link_conflicts = 1  # another request's transaction is writing the seq this event reads
    response = world.call("PUT", f"/v1/tests/{created['id']}/result", "pharmacist-a", {"result": "positive"})
    assert others.answered == ["TransactionConflictException"]  # the fault did happen
    assert response.status_code == 200, response.body
    assert _stored(created["id"]).version == version  # nothing to change
    assert _events(world, "set_result", created["id"]) == 1


def test_a_result_whose_write_met_the_exports_lease_is_decided_again_on_the_leased_record(
    world: World, others: OtherWriters
) -> None:
    created = _create(world, 1, result="negative")
    version = _stored(created["id"]).version
    others.record_id, others.conflicts, others.meanwhile = created["id"], 1, _lease(created["id"])
    response = world.call("PUT", f"/v1/tests/{created['id']}/result", "pharmacist-a", {"result": "positive"})
    assert others.answered == ["TransactionCanceledException"]
    assert response.status_code == 200, response.body
    answer = json.loads(response.body)
    assert answer["test"]["result"] == "positive"
    stored = _stored(created["id"])
    assert stored.version == version + 1  # applied once
    assert stored.first_sent_at is not None and stored.result == "positive"
    assert stored.export_queue is not None  # the new result waits for its message
    assert _events(world, "set_result", created["id"]) == 1


def test_a_cancel_whose_write_met_the_exports_lease_is_refused_as_already_sent_not_a_503(
    world: World, others: OtherWriters
) -> None:
    created = _create(world, 2, result=None)
    version = _stored(created["id"]).version
    others.record_id, others.conflicts, others.meanwhile = created["id"], 1, _lease(created["id"])
    response = world.call("DELETE", f"/v1/tests/{created['id']}", "pharmacist-a")
    assert response.status_code == 409, response.body
    assert json.loads(response.body)["withdrawal"] == f"/v1/tests/{created['id']}/withdrawal"
    stored = _stored(created["id"])
    assert stored.status != "cancelled" and stored.version == version
    assert _events(world, "cancel", created["id"]) == 0


def test_a_result_that_meets_other_transactions_again_and_again_is_applied_once_when_they_are_done(
    world: World, others: OtherWriters
) -> None:
    created = _create(world, 3, result="negative")
    version = _stored(created["id"]).version
    others.record_id, others.conflicts = created["id"], 5
    response = world.call("PUT", f"/v1/tests/{created['id']}/result", "pharmacist-a", {"result": "positive"})
    assert others.answered == ["TransactionCanceledException"] * 5
    assert response.status_code == 200, response.body
    stored = _stored(created["id"])
    assert stored.result == "positive" and stored.version == version + 1
    assert _events(world, "set_result", created["id"]) == 1


def _event(request_id: str) -> AuditEvent:
    return AuditEvent(
        action="read",
        outcome="success",
        actor="pharmacist-a",
        role="pharmacist",
        finess=PHARMACY_A,
        record_ids=(),
        request_id=request_id,
    )


def test_two_appends_of_one_process_to_one_chain_take_turns_instead_of_racing_for_its_head(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soak's one 503 ("The audit journal is busy"): the API's threads raced for their
    pharmacy's chain, and a writer that lost (it must read the head again) kept losing to the
    newcomers writing from the cached head. With one attempt allowed, the second writer coming in
    between the first one's head and its write made the first give up."""
    journal = audit_journal(get_settings(), SystemClock(), max_attempts=1, sleep=lambda _s: None)
    journal.append(_event("before"))  # the head is cached
    failures: list[Exception] = []

    def second() -> None:
        try:
            journal.append(_event("second"))
        except Exception as exc:  # the finding
            failures.append(exc)

    started: list[threading.Thread] = []
    original = BotocoreStubber.__call__

    def call(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if event_name.startswith(_PUT) and b"first" in (request.body or b"") and not started:
            started.append(threading.Thread(target=second))
            started[0].start()
            started[0].join(timeout=2)  # it writes now, or waits for the first to be done
        return original(stubber, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", call)
    journal.append(_event("first"))
    started[0].join(timeout=30)
    assert failures == []
    links = list(AuditEventModel.query(PHARMACY_A, consistent_read=True))
    assert [link.event["request_id"] for link in links][-3:] == ["before", "first", "second"]
