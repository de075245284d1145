"""One malformed queued record cannot stop the export (chalicelib/adapters/dynamodb/export_queue.py):
the sweeper and the trigger set it aside (quarantined: out of the queue, `export_quarantined_at`,
the `ExportQuarantined` metric) and export every other record in the same run."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from chalicelib.adapters.dynamodb.export_operator_actions import quarantined_count
from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
from chalicelib.adapters.dynamodb.export_writes import QUARANTINE_METRIC
from chalicelib.adapters.dynamodb.models import RecordModel, export_queue_key
from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.serialization import UNREADABLE_MOMENT, iso_utc
from chalicelib.observability import metrics
from devtools.fake_sidep import FakeSidep
from testkit.export_support import Exporter, load, seed
from testkit.fakes import FixedClock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

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
    # due before the good one (`first_due`): the queue reads it first
    update: dict[str, Any] = {
        "TableName": str(RecordModel.Meta.table_name),
        "Key": {"finess": {"S": record.finess}, "record_id": {"S": record.id}},
        "UpdateExpression": expression.replace("SET ", "SET next_attempt_at = :due, ")
        if expression.startswith("SET")
        else f"SET next_attempt_at = :due {expression}",
        "ExpressionAttributeValues": {**values, ":due": {"S": first_due}},
    }
    if names:
        update["ExpressionAttributeNames"] = names
    boto3.client("dynamodb", region_name="eu-west-3").update_item(**update)


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
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _poisoned_pair(clock, "no sampling time")
    captured: list[str] = []
    original = metrics.add_metric

    def spy(name: str, **kwargs: Any) -> None:
        captured.append(name)
        original(name=name, **kwargs)

    monkeypatch.setattr(metrics, "add_metric", spy)
    Exporter(sidep, clock).run()
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


class RefusesOneRecord:
    """A DynamoDB client on which every transaction write of one record is invalid (what DynamoDB
    answers for a mistyped attribute or an item grown past 400 KB): a ValidationError reason."""

    def __init__(self, client: Any, record_id: str, writes: str) -> None:
        self._client = client
        self._record_id = record_id
        self._writes = writes  # a fragment of the refused writes' ConditionExpression

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> Any:
        from botocore.exceptions import ClientError

        def refused(entry: dict[str, Any]) -> bool:
            op = next(iter(entry.values()))
            key = op.get("Key") or op.get("Item") or {}
            return key.get("record_id", {}).get("S") == self._record_id and self._writes in op.get(
                "ConditionExpression", ""
            )

        if any(refused(entry) for entry in TransactItems):
            reasons = [{"Code": "ValidationError" if refused(e) else "None"} for e in TransactItems]
            answer: Any = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
            raise ClientError(answer, "TransactWriteItems")
        return self._client.transact_write_items(TransactItems=TransactItems)


@pytest.mark.parametrize(
    "writes", ["attribute_exists(export_queue)", "lease_owner = :me"], ids=["lease", "outcome"]
)
def test_a_record_whose_write_dynamodb_refuses_is_set_aside_and_the_batch_goes_on(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock, writes: str
) -> None:
    bad_index, good_index = _same_shard_pair()
    (bad,) = seed(1, clock, start=bad_index)
    (good,) = seed(1, clock, start=good_index)
    exporter = Exporter(sidep, clock)
    client = RefusesOneRecord(exporter.client, bad.id, writes)
    summary = exporter.run(queue=DynamoDbExportQueue(cast("DynamoDBClient", client), owner="refused"))
    # refused at its lease: never sent; at its outcome: SI-DEP answered, the answer could not be kept
    assert summary.leased == (1 if writes.startswith("attribute") else 2)
    assert load(good).delivery.acknowledged_at is not None
    _assert_set_aside(bad)
    assert (exporter.run().leased, exporter.run().acknowledged) == (0, 0)


def test_a_pass_over_every_shard_exports_every_other_record(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # the merged read of all shards (the local sweeper's pass) stopped at the first unreadable item
    records = seed(12, clock)
    bad = records[0]
    _poison(bad, "unknown delivery state", iso_utc(clock.now() - timedelta(hours=1)))
    summary = Exporter(sidep, clock).run()
    assert summary.acknowledged == 11
    assert all(load(r).delivery.acknowledged_at is not None for r in records[1:])
    _assert_set_aside(bad)


def _update(record: ScreeningRecord, expression: str, values: dict[str, Any] | None = None) -> None:
    update: dict[str, Any] = {
        "TableName": str(RecordModel.Meta.table_name),
        "Key": {"finess": {"S": record.finess}, "record_id": {"S": record.id}},
        "UpdateExpression": expression,
    }
    if values:
        update["ExpressionAttributeValues"] = values
    boto3.client("dynamodb", region_name="eu-west-3").update_item(**update)


def test_a_malformed_dead_letter_is_set_aside_and_the_redrive_puts_every_other_one_back(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # one PutItem's worth (the API role may write any attribute of a record) stopped `make redrive`
    # for every dead letter, at whichever the scan met first
    records = seed(4, clock)
    for record in records:
        _update(record, "SET delivery_state = :f REMOVE export_queue", {":f": {"S": "failed"}})
    bad = records[0]
    _update(bad, "SET sampled_at = :v", {":v": {"N": "1"}})
    queue = Exporter(sidep, clock).queue()
    assert queue.redrive(clock.now()) == 3
    assert all(load(r).delivery.state.value == "ready" for r in records[1:])
    item = _raw(bad)
    assert item["delivery_state"] == {"S": "failed"} and "export_quarantined_at" in item


def test_a_record_in_backoff_without_a_version_does_not_stop_the_end_of_every_other_backoff(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(3, clock)
    later = {":later": {"S": iso_utc(clock.now() + timedelta(hours=1))}, ":one": {"N": "1"}}
    for record in records:
        _update(record, "SET next_attempt_at = :later, attempts = :one", later)
    _update(records[0], "REMOVE version")
    done = Exporter(sidep, clock).queue().end_backoff(clock.now())
    assert sorted(rid for _, rid in done) == sorted(r.id for r in records[1:])


def test_a_crafted_attempts_count_does_not_blind_the_operators_status(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    from operations.status import export_queue

    records = seed(2, clock)
    _update(records[0], "SET attempts = :v", {":v": {"N": "1.5"}})
    _update(records[1], "SET attempts = :v", {":v": {"N": "2"}})
    queue = export_queue(
        boto3.client("dynamodb", region_name="eu-west-3"), str(RecordModel.Meta.table_name), clock.now()
    )
    assert queue["total"] == 2 and queue["retrying"] == 2


@pytest.mark.parametrize("how", ["removed from the queue", "quarantine mark removed"])
def test_a_record_owing_sidep_a_message_in_no_queue_needs_the_operators_attention(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock, how: str
) -> None:
    # the API or the export role may REMOVE export_queue (or a quarantined record's mark): the
    # record waits for nothing, SI-DEP never gets it, and status said "nothing needs attention"
    from operations.status import attention, held_back

    bad, _ = seed(2, clock)
    if how == "removed from the queue":
        _update(bad, "REMOVE export_queue")
    else:
        _poison(bad, "unknown delivery state", iso_utc(clock.now() - timedelta(hours=1)))
        Exporter(sidep, clock).run()
        _update(bad, "SET delivery_state = :r REMOVE export_quarantined_at", {":r": {"S": "ready"}})
    held = held_back(boto3.client("dynamodb", region_name="eu-west-3"), str(RecordModel.Meta.table_name))
    assert held["stranded"] == 1 and held["stranded_by_pharmacy"] == {bad.finess: 1}
    waiting = {"queued": 0, "sending": 0, "retrying": 0, "rejected": 0, "dead_letters": 0}
    found: dict[str, Any] = {
        "sidep": None,
        "stranded": held,
        "dead_letters": {"records": 0},
        "last_export_run": None,
        "audit_chains": [],
        "retention": {"unacknowledged_near_cap": []},
        "waiting": waiting,
    }
    assert any("in no export queue" in reason for reason in attention(found))


def test_a_record_erased_at_the_hard_cap_while_owed_is_not_stranded(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    from operations.status import held_back

    (record,) = seed(1, clock)
    _update(record, "SET erased_at = :t REMOVE export_queue, personal", {":t": {"S": iso_utc(clock.now())}})
    held = held_back(boto3.client("dynamodb", region_name="eu-west-3"), str(RecordModel.Meta.table_name))
    assert held["stranded"] == 0


def test_a_quarantine_mark_on_a_record_the_export_then_delivers_is_cleared_by_its_acknowledgement(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # a mark set by hand on a queued record (or left on a repaired one) kept status at 1 for ever
    # after SI-DEP acknowledged the record: an alarm nobody can clear teaches to ignore status
    (record,) = seed(1, clock)
    _update(record, "SET export_quarantined_at = :t", {":t": {"S": iso_utc(clock.now())}})
    assert Exporter(sidep, clock).run().acknowledged == 1
    assert "export_quarantined_at" not in _raw(record)
    client = boto3.client("dynamodb", region_name="eu-west-3")
    assert quarantined_count(client, str(RecordModel.Meta.table_name)) == 0


def test_a_queued_record_not_due_for_longer_than_any_backoff_needs_the_operators_attention(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # one UpdateItem (API or export role): next_attempt_at and updated_at in the year 9999; the
    # record stays in the queue, no run leases it, the age gauges read it as fresh, status said 0
    from operations.status import attention, export_queue

    bad, _ = seed(2, clock)
    far = {"S": "9999-01-01T00:00:00Z"}
    _update(bad, "SET next_attempt_at = :far, updated_at = :far", {":far": far})
    queue = export_queue(
        boto3.client("dynamodb", region_name="eu-west-3"), str(RecordModel.Meta.table_name), clock.now()
    )
    assert queue["held_far"] == 1
    found: dict[str, Any] = {
        "sidep": None,
        "export_queue": queue,
        "dead_letters": {"records": 0},
        "last_export_run": None,
        "audit_chains": [],
        "retention": {"unacknowledged_near_cap": []},
    }
    assert any("not due for over" in reason for reason in attention(found))


@pytest.mark.parametrize(
    "crafted", ["0", "2026-01-01T00:00:00", "1999-99-99, no time", "0001-01-01T00:00:00+05:00"]
)
def test_a_crafted_stored_time_does_not_stop_the_sweepers_gauge_or_the_status_and_reads_as_oldest(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock, crafted: str
) -> None:
    # one UpdateItem (API or export role) on updated_at / next_attempt_at (due: it sorts before now):
    # the gauge runs before every scheduled export and raised on it (no export ran), and `status`
    # stopped; read as the oldest moment instead, it alarms
    from operations.status import _older, export_queue

    bad, good = seed(2, clock)
    _update(bad, "SET updated_at = :x, next_attempt_at = :x", {":x": {"S": crafted}})
    queue = Exporter(sidep, clock).queue()
    assert queue.oldest_waiting_since() == UNREADABLE_MOMENT
    assert queue.oldest_due(clock.now()) == UNREADABLE_MOMENT
    status = export_queue(
        boto3.client("dynamodb", region_name="eu-west-3"), str(RecordModel.Meta.table_name), clock.now()
    )
    assert status["total"] == 2
    assert status["oldest_due_age_seconds"] == (clock.now() - UNREADABLE_MOMENT).total_seconds()
    assert _older(iso_utc(good.updated_at), status["oldest_set_at"]) == iso_utc(UNREADABLE_MOMENT)
