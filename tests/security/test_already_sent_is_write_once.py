""" "Already sent" cannot be taken back by a role that must be able to set it (adapters/dynamodb/
sent_markers.py). The export role may UpdateItem `first_sent_at` (it sets it) and IAM cannot tell a
SET from a REMOVE, so it can `REMOVE first_sent_at`; the API role can too. The first lease also
creates a write-once marker that neither role may update or delete: after the REMOVE, cancel is
still 409, withdrawal still works, and the erasure still names the record as already sent."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.models import RecordModel, SentMarkerModel
from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository, record_from_model
from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
from chalicelib.domain.errors import Conflict
from infra.template import EXPORT_WRITABLE_ATTRIBUTES, ROLE_TABLES
from testkit.fakes import dynamodb_changes
from testkit.patients import PATIENTS
from tests.api.test_already_sent import Sidep, assert_refused_with_the_withdrawal, body_of, create, delete
from tests.conftest import PHARMACY_A, World


@pytest.fixture
def sidep(world: World, tmp_path: Path) -> Sidep:
    return Sidep(tmp_path / "sidep")


def remove_first_sent_at(record_id: str) -> None:
    """What the export role may do with its own rights: an UpdateItem naming only first_sent_at."""
    assert "first_sent_at" in EXPORT_WRITABLE_ATTRIBUTES  # the policy's attribute list allows it
    boto3.client("dynamodb", region_name="eu-west-3").update_item(
        TableName=str(RecordModel.Meta.table_name),
        Key={"finess": {"S": PHARMACY_A}, "record_id": {"S": record_id}},
        UpdateExpression="REMOVE first_sent_at",
    )
    assert RecordModel.get(PHARMACY_A, record_id, consistent_read=True).first_sent_at is None


def sent_and_unmarked(world: World, sidep: Sidep, *, answered: bool) -> str:
    record_id = create(world)
    if not answered:
        sidep.lose_the_next_answer()  # SI-DEP holds it; the export does not know
    sidep.export()
    assert sidep.holds(record_id) is not None
    remove_first_sent_at(record_id)
    return record_id


@pytest.mark.parametrize("answered", [True, False], ids=["acknowledged", "answer-lost"])
def test_after_the_export_role_removes_first_sent_at_a_cancel_is_still_refused(
    world: World, sidep: Sidep, answered: bool
) -> None:
    record_id = sent_and_unmarked(world, sidep, answered=answered)
    # before the marker: 204, and the record SI-DEP holds was cancelled as never sent
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)
    view = body_of(world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a"))
    assert view["first_sent_at"]  # the marker's


def test_after_the_removal_the_erasure_lists_the_record_as_already_sent(world: World, sidep: Sidep) -> None:
    record_id = sent_and_unmarked(world, sidep, answered=True)
    erasure = world.call("POST", "/v1/patients/erasure", "pharmacist-a", {"nir": PATIENTS[0]["nir"]})
    assert erasure.status_code == 200, erasure.body
    body = body_of(erasure)
    # before the marker: {"erased": [id], "already_sent": []} while SI-DEP held the result
    assert body["erased"] == [] and [r["id"] for r in body["already_sent"]] == [record_id]
    assert body_of(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))["patient"] is not None


def test_after_the_removal_the_withdrawal_still_reaches_sidep(world: World, sidep: Sidep) -> None:
    record_id = sent_and_unmarked(world, sidep, answered=True)
    withdrawn = world.call("POST", f"/v1/tests/{record_id}/withdrawal", "pharmacist-a")
    assert withdrawn.status_code == 200, withdrawn.body
    sidep.export()
    assert (sidep.holds(record_id) or {})["kind"] == "W"
    # the lease that sent the withdrawal met the marker: it wrote first_sent_at again, and no error
    assert RecordModel.get(PHARMACY_A, record_id, consistent_read=True).first_sent_at is not None


def test_no_role_that_writes_records_may_write_a_marker_but_the_export_and_it_only_creates() -> None:
    assert "dynamodb:PutItem" in ROLE_TABLES["export"]["sent_markers_table"]
    for role, tables in ROLE_TABLES.items():
        actions = set(tables.get("sent_markers_table", ()))
        assert not actions & {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}, role
        if role != "export":
            assert "dynamodb:PutItem" not in actions, role


def test_a_cancel_decided_on_not_sent_is_refused_when_a_lease_marked_it_meanwhile(world: World) -> None:
    # the API role's REMOVE races the lease: the cancel read no first_sent_at and no marker, then the
    # lease created the marker and its first_sent_at was removed again before the cancel's write
    record_id = create(world, result=None)
    repository = DynamoDbRecordRepository()
    record, _ = repository.get(PHARMACY_A, record_id)
    assert record.delivery.first_sent_at is None
    SentMarkerModel(PHARMACY_A, record_id, first_sent_at="2026-11-29T12:00:00Z").save()
    before = record.version
    record.version += 1
    with pytest.raises(Conflict):
        dynamodb_changes([repository.save_change(record, expected_version=before)])
    assert RecordModel.get(PHARMACY_A, record_id, consistent_read=True).version == before


def test_the_purge_reads_already_sent_from_the_marker(world: World, sidep: Sidep) -> None:
    record_id = sent_and_unmarked(world, sidep, answered=False)
    erase_day = date.fromisoformat(
        str(RecordModel.get(PHARMACY_A, record_id, consistent_read=True).erase_day)
    )
    facts = {f.record_id: f for f in DynamoDbRetentionStore().on_erase_day(erase_day)}
    assert facts[record_id].already_sent


def test_erasing_as_unsent_a_record_whose_marker_exists_erases_nothing(world: World, sidep: Sidep) -> None:
    from chalicelib.domain.retention import RetentionPolicy

    record_id = sent_and_unmarked(world, sidep, answered=True)
    item = RecordModel.get(PHARMACY_A, record_id, consistent_read=True)
    record = record_from_model(item)[0]  # as the item says: no first_sent_at
    assert record.delivery.first_sent_at is None
    store = DynamoDbRetentionStore()
    assert not store.erase_unsent(record, now=record.updated_at, policy=RetentionPolicy())
    assert RecordModel.get(PHARMACY_A, record_id, consistent_read=True).personal is not None


def set_first_sent_at(record_id: str, value: str) -> None:
    """An insider's UpdateItem naming only first_sent_at (the API role and the export role may)."""
    boto3.client("dynamodb", region_name="eu-west-3").update_item(
        TableName=str(RecordModel.Meta.table_name),
        Key={"finess": {"S": PHARMACY_A}, "record_id": {"S": record_id}},
        UpdateExpression="SET first_sent_at = :t",
        ExpressionAttributeValues={":t": {"S": value}},
    )


def test_a_first_sent_at_forged_before_the_first_send_does_not_spare_the_record_its_marker(
    world: World, sidep: Sidep
) -> None:
    # the insider sets first_sent_at on a queued record so that the lease, reading it set, skips the
    # marker; once SI-DEP holds the result, the REMOVE leaves no trace of the send
    record_id = create(world)
    set_first_sent_at(record_id, "2026-01-01T00:00:00Z")
    sidep.export()
    assert sidep.holds(record_id) is not None
    remove_first_sent_at(record_id)
    # before: 204, a record SI-DEP holds cancelled as never sent
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)
    assert SentMarkerModel.count(PHARMACY_A, SentMarkerModel.record_id == record_id) == 1


@pytest.mark.parametrize(
    "overwrite",
    [
        {},  # no time at all: PynamoDB reads first_sent_at as None
        {"first_sent_at": {"S": "not a time"}},
        {"first_sent_at": {"N": "1"}},
    ],
    ids=["no-time", "unparseable", "mistyped"],
)
def test_a_marker_overwritten_by_the_export_role_still_says_already_sent(
    world: World, sidep: Sidep, overwrite: dict[str, Any]
) -> None:
    # the export role may PutItem markers without a condition: it replaces the marker with one
    # whose time is missing or garbage, then removes the record's first_sent_at
    record_id = sent_and_unmarked(world, sidep, answered=True)
    boto3.client("dynamodb", region_name="eu-west-3").put_item(
        TableName=str(SentMarkerModel.Meta.table_name),
        Item={"finess": {"S": PHARMACY_A}, "record_id": {"S": record_id}, **overwrite},
    )
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)
    view = world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a")
    assert view.status_code == 200, view.body
    assert body_of(view)["first_sent_at"]
    withdrawn = world.call("POST", f"/v1/tests/{record_id}/withdrawal", "pharmacist-a")
    assert withdrawn.status_code == 200, withdrawn.body
