"""One malformed queued record cannot stop the export (chalicelib/adapters/dynamodb/export_queue.py):
the sweeper and the trigger set it aside (quarantined: out of the queue, `export_quarantined_at`,
the `ExportQuarantined` metric) and export every other record in the same run."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.export_queue import (
    QUARANTINE_METRIC,
    DynamoDbExportQueue,
    quarantined_count,
)
from chalicelib.adapters.dynamodb.models import RecordModel, export_queue_key
from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.serialization import iso_utc
from chalicelib.observability import metrics
from devtools.fake_sidep import FakeSidep
from tests.fakes import FixedClock
from tests.integration.test_export_support import Exporter, load, seed

# What makes an item unreadable: a value no domain type takes, a missing attribute, a wrong type.
POISONS: dict[str, tuple[str, dict[str, Any]]] = {
    "unknown delivery state": ("SET delivery_state = :v", {":v": {"S": "bogus"}}),
    "no sampling time": ("REMOVE sampled_at", {}),
    "a version that is text": ("SET #version = :v", {":v": {"S": "one"}}),
    "a history that is not JSON": ("SET delivery_history = :v", {":v": {"S": "{not json"}}),
}


def _same_shard_pair() -> tuple[int, int]:
    """Two seed indices whose records share an export-queue shard."""
    seen: dict[str, int] = {}
    for index in range(64):
        shard = export_queue_key(str(uuid.UUID(int=index + 1)))
        if shard in seen:
            return seen[shard], index
        seen[shard] = index
    raise AssertionError("no two records in one shard")


def _poison(record: ScreeningRecord, how: str, first_due: str) -> None:
    expression, values = POISONS[how]
    names = {"#version": "version"} if "#version" in expression else {}
    # due before the good one: the queue reads it first
    values = {**values, ":due": {"S": first_due}}
    boto3.client("dynamodb", region_name="eu-west-3").update_item(
        TableName=str(RecordModel.Meta.table_name),
        Key={"finess": {"S": record.finess}, "record_id": {"S": record.id}},
        UpdateExpression=expression.replace("SET ", "SET next_attempt_at = :due, ")
        if expression.startswith("SET")
        else f"SET next_attempt_at = :due {expression}",
        ExpressionAttributeValues=values,
        **({"ExpressionAttributeNames": names} if names else {}),
    )


def _raw(record: ScreeningRecord) -> dict[str, Any]:
    return boto3.client("dynamodb", region_name="eu-west-3").get_item(
        TableName=str(RecordModel.Meta.table_name),
        Key={"finess": {"S": record.finess}, "record_id": {"S": record.id}},
        ConsistentRead=True,
    )["Item"]


def _poisoned_pair(clock: FixedClock, how: str) -> tuple[ScreeningRecord, ScreeningRecord]:
    bad_index, good_index = _same_shard_pair()
    (bad,) = seed(1, clock, start=bad_index)
    (good,) = seed(1, clock, start=good_index)
    _poison(bad, how, iso_utc(clock.now() - timedelta(hours=1)))
    return bad, good


def _assert_set_aside(bad: ScreeningRecord) -> None:
    item = _raw(bad)
    assert "export_queue" not in item and "export_quarantined_at" in item
    assert (
        quarantined_count(boto3.client("dynamodb", region_name="eu-west-3"), str(RecordModel.Meta.table_name))
        == 1
    )


@pytest.mark.parametrize("how", list(POISONS))
def test_the_sweeper_sets_a_malformed_record_aside_and_exports_the_next_one_in_its_shard(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock, how: str
) -> None:
    bad, good = _poisoned_pair(clock, how)
    exporter = Exporter(sidep, clock)
    shard = export_queue_key(good.id)
    # one shard's exporter (the fan-out's), then the whole pass: neither raises
    summary = exporter.run(queue=DynamoDbExportQueue(exporter.client, owner="shard", shards=[shard]))
    assert summary.acknowledged == 1 and load(good).delivery.acknowledged_at is not None
    _assert_set_aside(bad)
    again = exporter.run()
    assert (again.leased, again.acknowledged) == (0, 0)  # it stays aside: no run reads it again


def test_the_trigger_sets_a_malformed_image_aside_and_exports_the_others_of_its_batch(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    bad, good = _poisoned_pair(clock, "unknown delivery state")
    exporter = Exporter(sidep, clock)
    queue = exporter.queue()
    images = [_raw(bad), _raw(good)]
    summary = exporter.run(queue=queue, changed=queue.ready_in(images, clock.now()))
    assert summary.acknowledged == 1 and load(good).delivery.acknowledged_at is not None
    _assert_set_aside(bad)


def test_a_quarantine_is_counted_in_the_export_metrics(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    _poisoned_pair(clock, "no sampling time")
    captured: list[str] = []
    original = metrics.add_metric

    def spy(name: str, **kwargs: Any) -> None:
        captured.append(name)
        original(name=name, **kwargs)

    metrics.add_metric = spy  # type: ignore[method-assign]
    try:
        Exporter(sidep, clock).run()
    finally:
        metrics.add_metric = original  # type: ignore[method-assign]
    assert captured.count(QUARANTINE_METRIC) == 1


def test_a_quarantine_changed_meanwhile_is_not_written(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # the entry read is no longer the entry stored: nothing set aside (the next run reads it again)
    bad, _ = _poisoned_pair(clock, "unknown delivery state")
    image = _raw(bad)
    boto3.client("dynamodb", region_name="eu-west-3").update_item(
        TableName=str(RecordModel.Meta.table_name),
        Key={"finess": {"S": bad.finess}, "record_id": {"S": bad.id}},
        UpdateExpression="SET next_attempt_at = :later",
        ExpressionAttributeValues={":later": {"S": iso_utc(clock.now() - timedelta(minutes=1))}},
    )
    Exporter(sidep, clock).queue().ready_in([image], clock.now())
    assert "export_quarantined_at" not in _raw(bad) and "export_queue" in _raw(bad)
