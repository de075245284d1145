"""Fault injection: KMS, DynamoDB and the audit table fail as AWS makes them fail.

The rules: a dependency failure is a 503 with Retry-After, never a 500; nothing is half-written;
a client's retry with the same Idempotency-Key neither loses nor duplicates a record; no data
leaves without its audit event.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamodb.models import AuditEventModel, IdempotencyModel, RecordModel
from chalicelib.config import get_settings
from chalicelib.services.call import Call
from testkit.fakes import create_command
from testkit.patients import personal_needles, screening_body
from tests.conftest import World
from tests.robustness.faults import Faults

# Bounds of the retry policies: botocore standard mode (3 attempts, bootstrap.AWS_RETRIES),
# PynamoDB (1 + 3), the encryption SDK's KMS client (botocore legacy mode, 5).
MAX_ATTEMPTS = 5


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def records() -> list[RecordModel]:
    return list(RecordModel.scan())


def claims() -> list[IdempotencyModel]:
    return list(IdempotencyModel.scan())


def audited(action: str) -> list[dict[str, Any]]:
    return [item.event for item in AuditEventModel.scan() if item.event.get("action") == action]


def create(world: World, key: str | None = None, index: int = 0) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return world.call("POST", "/v1/tests", "pharmacist-a", screening_body(index), **headers)


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    text = response.body.decode()
    assert "patient" not in text
    for needle in personal_needles():
        assert needle not in text


def fresh_process() -> None:
    """A new container: cold KMS caches (data keys, blind-index keys), as after a cold start."""
    bootstrap.reset()


KMS_FAULTS = [
    pytest.param("GenerateDataKey", None, 400, id="kms-unreachable"),
    pytest.param("GenerateDataKey", "ThrottlingException", 400, id="kms-throttling"),
    pytest.param("GenerateMac", "KMSInternalException", 500, id="kms-internal-error"),
]


@pytest.mark.parametrize(("operation", "code", "status"), KMS_FAULTS)
def test_kms_failure_on_create_is_503_and_writes_nothing(
    world: World, faults: Faults, operation: str, code: str | None, status: int
) -> None:
    key = str(uuid.uuid4())
    faults.fail(operation, code, status=status)
    assert_unavailable(create(world, key))
    assert 1 < faults.attempts[operation] <= MAX_ATTEMPTS, faults.attempts  # retried, bounded
    assert records() == [] and claims() == [] and audited("create") == []

    faults.clear()
    retried = create(world, key)
    assert retried.status_code == 201, retried.body
    assert [r.record_id for r in records()] == [body_of(retried)["id"]]


@pytest.mark.parametrize("code", [None, "ThrottlingException"])
def test_kms_failure_on_read_is_503_without_data(world: World, faults: Faults, code: str | None) -> None:
    record_id = body_of(create(world))["id"]
    fresh_process()
    faults.fail("Decrypt", code)
    assert_unavailable(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))
    assert faults.attempts["Decrypt"] > 1
    faults.clear()
    assert world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a").status_code == 200


def test_dynamodb_throttling_is_retried_with_backoff_then_503(world: World, faults: Faults) -> None:
    table = get_settings().records_table
    faults.fail("TransactWriteItems", "ProvisionedThroughputExceededException", table=table)
    assert_unavailable(create(world))
    attempts = faults.attempts["TransactWriteItems"]
    assert 1 < attempts <= MAX_ATTEMPTS
    assert len(faults.backoffs) >= attempts - 1  # botocore backed off between attempts
    assert records() == []


def test_a_short_dynamodb_throttle_is_absorbed_by_the_retries(world: World, faults: Faults) -> None:
    faults.fail("TransactWriteItems", "ThrottlingException", table=get_settings().records_table, times=2)
    created = create(world)
    assert created.status_code == 201, created.body
    assert faults.injected == 2 and len(records()) == 1


def test_dynamodb_throttling_on_read_is_503(world: World, faults: Faults) -> None:
    record_id = body_of(create(world))["id"]
    faults.fail("GetItem", "ProvisionedThroughputExceededException", table=get_settings().records_table)
    assert_unavailable(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))
    assert_unavailable(world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a"))


def test_a_conditional_failure_on_update_is_409_and_changes_nothing(world: World, faults: Faults) -> None:
    """Another writer moved the record between our read and our transaction (its version check)."""
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.services.records import CHANGE_ATTEMPTS

    record_id = body_of(create(world))["id"]
    real_get = DynamoDbRecordRepository.get

    def stale(self: Any, finess: str, rid: str) -> Any:
        record, blob = real_get(self, finess, rid)
        record.version -= 1
        return record, blob

    before = len(audited("set_result"))
    sent = faults.attempts["TransactWriteItems"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoDbRecordRepository, "get", stale)
        response = world.call("PUT", f"/v1/tests/{record_id}/result", "pharmacist-a", {"result": "positive"})
    assert response.status_code == 409 and response.headers["Content-Type"] == "application/problem+json"
    # a condition is an answer, not a fault for botocore to retry: one transaction per fresh read of
    # the record (the service decides again on a lost race, a bounded number of times)
    assert faults.attempts["TransactWriteItems"] == sent + CHANGE_ATTEMPTS
    assert (
        body_of(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))["test"]["result"] == "negative"
    )
    assert len(audited("set_result")) == before  # and no event of a change that did not happen


def test_a_failed_transaction_leaves_neither_the_change_nor_its_event(world: World, faults: Faults) -> None:
    """A create (claim, record, event) or a result (record, event) is one transaction: when it
    fails, nothing of it exists, and the retry makes it once."""
    key = str(uuid.uuid4())
    faults.fail("TransactWriteItems", "InternalServerError", status=500)
    assert_unavailable(create(world, key))
    assert records() == [] and claims() == [] and audited("create") == []

    faults.clear()
    retried = create(world, key)
    assert retried.status_code == 201
    assert [r.record_id for r in records()] == [body_of(retried)["id"]]
    assert [c.state for c in claims()] == ["completed"]
    assert [e["record_ids"] for e in audited("create")] == [[body_of(retried)["id"]]]
    other_body = world.call(
        "POST", "/v1/tests", "pharmacist-a", screening_body(1), **{"Idempotency-Key": key}
    )
    assert other_body.status_code == 409

    record_id = body_of(retried)["id"]
    faults.fail("TransactWriteItems", "InternalServerError", status=500, table=get_settings().audit_table)
    path = f"/v1/tests/{record_id}/result"
    assert_unavailable(world.call("PUT", path, "pharmacist-a", {"result": "positive"}))
    assert audited("set_result") == []
    assert records()[0].result == "negative"
    faults.clear()
    assert world.call("PUT", path, "pharmacist-a", {"result": "positive"}).status_code == 200
    assert records()[0].result == "positive" and len(audited("set_result")) == 1


def test_a_claim_left_without_its_record_is_finished_by_the_retry(world: World, faults: Faults) -> None:
    """Claims stored before claims and records were one write may have no record: the retry
    finishes the create under the claimed id."""
    from chalicelib.adapters.dynamodb.idempotency import DynamoDbIdempotencyStore

    key = str(uuid.uuid4())
    container = bootstrap.get_container()
    body_mac = container.records.index.fingerprint(
        json.dumps(screening_body(0), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(),
        finess="750000010",
    )
    claimed_id = str(uuid.uuid4())
    # The old code's first step: the key claimed `in_progress`, the record not stored yet.
    DynamoDbIdempotencyStore(container.clock, 3600)._item(
        "750000010", key, body_mac, claimed_id, "in_progress"
    ).save()
    retried = create(world, key)
    assert retried.status_code == 201
    assert body_of(retried)["id"] == claimed_id
    assert [r.record_id for r in records()] == [claimed_id]
    assert (
        body_of(world.call("GET", f"/v1/tests/{claimed_id}", "pharmacist-a"))["patient"]["first_name"]
        == "Jeanne"
    )


def test_a_concurrent_retry_that_stores_first_is_returned_not_doubled(world: World) -> None:
    """The first attempt's transaction finds the claim its retry (same key) stored meanwhile."""
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.domain.model import Principal, Role
    from chalicelib.ports import RequestMeta
    from chalicelib.services import records as service

    key = str(uuid.uuid4())
    container = bootstrap.get_container()
    caller = Principal(username="pharmacist-a", role=Role.PHARMACIST, finess="750000010")
    real_add = DynamoDbRecordRepository.add_change
    retried: list[Any] = []
    paused = [False]

    def add_after_the_retry(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not paused[0]:  # the first attempt pauses here; its retry runs to completion
            paused[0] = True
            retried.append(
                service.create_record(
                    container.records,
                    Call(caller, RequestMeta("r2")),
                    create_command(container.records, screening_body(0), key),
                )
            )
        return real_add(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoDbRecordRepository, "add_change", add_after_the_retry)
        first, created = service.create_record(
            container.records,
            Call(caller, RequestMeta("r1")),
            create_command(container.records, screening_body(0), key),
        )
    second, second_created = retried[0]
    assert first.id == second.id and second_created and not created
    assert len(records()) == 1


def test_audit_table_unavailable_refuses_reads_with_no_data(world: World, faults: Faults) -> None:
    record_id = body_of(create(world))["id"]
    faults.fail("PutItem", "InternalServerError", status=500, table=get_settings().audit_table)
    assert_unavailable(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))
    assert_unavailable(world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a"))
    assert_unavailable(world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a"))
    assert audited("read") == []


def test_audit_table_unavailable_on_create_stores_nothing_and_the_retry_creates_once(
    world: World, faults: Faults
) -> None:
    key = str(uuid.uuid4())
    faults.fail("TransactWriteItems", "InternalServerError", status=500, table=get_settings().audit_table)
    assert_unavailable(create(world, key))
    assert records() == [] and claims() == []  # one transaction: no record without its event
    faults.clear()
    retried = create(world, key)
    assert retried.status_code == 201 and body_of(retried)["id"] == records()[0].record_id
    assert len(records()) == 1
    assert [e["record_ids"] for e in audited("create")] == [[records()[0].record_id]]
