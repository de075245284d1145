"""The export queue on the records table: the sparse `export_queue` index, leases, outcomes.

A record is in the queue iff it has `export_queue` (its shard, `export_queue_key(id)`), i.e. a
message waiting. The index is sorted by `next_attempt_at`; a run reads every shard's due part
page by page and merges them oldest first, so memory stays flat whatever the backlog.

Leasing writes, per record, the conditional update
    the record is still queued, its version is the one read, its next attempt is due, and no
    live lease holds it (no lease, or an expired one)
which sets lease_owner / lease_expires_at, moves next_attempt_at to the lease expiry (a
leased record drops out of the due range, and is due again by itself if the run dies), and sets
`first_sent_at` if absent: "already sent" is written in the same write that lets a message
leave. A record read without `first_sent_at` also gets its write-once marker in the same
transaction (a PutItem on the sent-markers table, `attribute_not_exists`; sent_markers.py): the
export role must be able to set the record's copy, and IAM cannot tell its SET from a REMOVE,
but it can only create markers, which no role may update or delete. A marker found existing
(the record's copy was removed) is dropped from the transaction and the lease goes on. A record
read *with* `first_sent_at` gets a ConditionCheck that its marker exists instead: a writer who set
the record's copy before the first send (so that no marker was made) is met by a failed check,
which the lease turns into the marker's PutItem (an ERROR log, the `ExportSentMarkerMissing` metric).

A queued item the export cannot read (a malformed attribute) is set aside, not raised: its
`export_queue` entry is removed and `export_quarantined_at` set (conditional on the entry as
read), an ERROR log and the `ExportQuarantined` metric name it, and the run goes on with every
other record (export_operator_actions.quarantined_count gives the operator's status the number set
aside; the operator's redrive and end of backoff are there too).

Every outcome is written with the condition "version unchanged and this run holds the lease",
so a record the pharmacy changed meanwhile is never overwritten: its acknowledgement is still
recorded (acknowledged_version, so a later change goes out as a correction) and the lease freed.

Batched (export_writes.py): the per-record updates of a batch go in TransactWriteItems calls of at
most 100 items (one round trip for a whole batch, instead of one per record; a first send's lease is
two items, its update and its marker, never split between transactions), each item with its own
record's condition. A transaction is all-or-nothing, so when one is cancelled the CancellationReasons
say which items' conditions failed (the pharmacy changed the record, another run leased it): those
are dropped (not leased / superseded, exactly as a failed single-item condition) and the rest is
retried; an item cancelled for a conflict with another transaction is retried too. Every per-record
guarantee of single-item writes holds, since each item keeps its own condition.

An acknowledgement also writes the record's `erase_day` (the retention policy's day, brought
forward by the acknowledgement: chalicelib/domain/retention.py), so the daily purge finds it.
An erased record is never in the queue (erasure removes it) and erasure bumps the version, so an
outcome can never write an erase_day back onto an erased record.

moto's `transact_write_items` deep-copies the whole table once per item: slow on moto, not on
DynamoDB (bench/notes.md).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb import export_operator_actions
from chalicelib.adapters.dynamodb.errors import is_conditional_failure
from chalicelib.adapters.dynamodb.export_writes import (
    INDEX,
    NAMES,
    QUARANTINE_METRIC,
    QueueWrite,
    TransactionBatches,
    delivery_fields,
    record_key,
    set_aside,
    update_expression,
)
from chalicelib.adapters.dynamodb.models import (
    RecordModel,
    SentMarkerModel,
    export_queue_key,
    export_queue_keys,
)
from chalicelib.adapters.dynamodb.records import record_from_model
from chalicelib.adapters.dynamodb.sent_markers import marker_check, marker_put
from chalicelib.domain import delivery
from chalicelib.domain.model import DeliveryState, MessageKind, ScreeningRecord
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.domain.serialization import iso_utc, stored_moment
from chalicelib.observability import logger, metrics
from chalicelib.ports import Queued

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PAGE_SIZE = 500


class DynamoDbExportQueue:
    """ExportQueue over the records table. `client` is a low-level boto3 DynamoDB client (the raw
    API costs half of PynamoDB's per call). `shards` restricts the queue to some of the export
    queue's partitions (one exporter per shard in the fan-out); default all."""

    def __init__(
        self,
        client: DynamoDBClient,
        owner: str,
        *,
        page_size: int = PAGE_SIZE,
        workers: int = 1,
        retention: RetentionPolicy | None = None,
        shards: Sequence[str] | None = None,
    ):
        self._client = client
        self._owner = owner
        # A batch larger than one transaction writes its transactions on `workers` threads.
        self._batches = TransactionBatches(client, workers)
        self._shards = list(shards) if shards else export_queue_keys()
        self._table = str(RecordModel.Meta.table_name)
        self._markers = str(SentMarkerModel.Meta.table_name)
        self._page_size = page_size
        # Leased version and message kind per record id, for the outcome's condition.
        self._leased: dict[str, tuple[int, MessageKind]] = {}
        self._retention = retention or RetentionPolicy()  # bootstrap passes the configured one

    @property
    def owner(self) -> str:
        return self._owner

    # reading --------------------------------------------------------------------------------
    def _shard(self, shard: str, now: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX,
            "KeyConditionExpression": "export_queue = :q AND next_attempt_at <= :now",
            "ExpressionAttributeValues": {":q": {"S": shard}, ":now": {"S": now}},
            "Limit": limit or self._page_size,
        }
        while True:
            page = self._client.query(**kwargs)
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start or limit:
                return
            kwargs["ExclusiveStartKey"] = start

    def due(self, now: datetime) -> Iterator[Queued]:
        bound = iso_utc(now)
        shards = [self._shard(shard, bound) for shard in self._shards]
        for raw in heapq.merge(*shards, key=lambda item: item["next_attempt_at"]["S"]):
            queued = self._readable(raw, now)
            if queued is not None:
                yield queued

    def _readable(self, raw: dict[str, Any], now: datetime) -> Queued | None:
        """The queued item as a record, or None once it is set aside (malformed: quarantined)."""
        try:
            record, blob = record_from_model(RecordModel.from_raw_data(raw))
        except Exception as exc:  # whatever makes it unreadable must not stop the queue
            self._quarantine(raw, exc, now)
            return None
        return Queued(record=record, blob=blob)

    def _quarantine(self, raw: dict[str, Any], error: Exception, now: datetime) -> None:
        """Take an unreadable item out of the queue, if its entry is still the one read."""
        key: dict[str, Any] = {name: raw[name] for name in ("finess", "record_id") if name in raw}
        queued, due = raw.get("export_queue"), raw.get("next_attempt_at")
        logger.error(
            "export queue item unreadable: quarantined",
            extra={
                "record_id": str(key.get("record_id", {}).get("S", "?")),
                "finess": str(key.get("finess", {}).get("S", "?")),
                "error": type(error).__name__,  # never its text: it may quote the value
            },
        )
        metrics.add_metric(name=QUARANTINE_METRIC, unit=MetricUnit.Count, value=1)
        if len(key) != 2 or queued is None or due is None:
            return
        set_aside(
            self._client,
            self._table,
            key,
            "export_queue = :q AND next_attempt_at = :due",
            {":q": queued, ":due": due},
            now,
        )

    def _set_aside(self, key: dict[str, Any], condition: str, values: dict[str, Any], now: datetime) -> None:
        set_aside(self._client, self._table, key, condition, values, now)

    def _set_aside_refused(self, items: Sequence[Queued], now: datetime, *, leased: bool) -> None:
        """The records whose write DynamoDB refused as invalid (a ValidationError in the
        transaction: a mistyped attribute, an item grown past its size limit): set aside like an
        unreadable item, under the lease just lost (`leased`: ours) or the entry as read."""
        for item in items:
            record = item.record
            if record.id not in self._batches.invalid:
                continue
            self._batches.invalid.discard(record.id)
            logger.error(
                "export queue item refused by DynamoDB: quarantined",
                extra={"record_id": record.id, "finess": record.finess, "error": "ValidationError"},
            )
            metrics.add_metric(name=QUARANTINE_METRIC, unit=MetricUnit.Count, value=1)
            if leased:
                set_aside(
                    self._client,
                    self._table,
                    record_key(record),
                    "lease_owner = :me",
                    {":me": {"S": self._owner}},
                    now,
                )
            elif record.delivery.next_attempt_at is not None:
                due = {"S": iso_utc(record.delivery.next_attempt_at)}
                queued = {"S": export_queue_key(record.id)}
                condition = "export_queue = :q AND next_attempt_at = :due"
                set_aside(
                    self._client, self._table, record_key(record), condition, {":q": queued, ":due": due}, now
                )

    def ready_in(self, images: Iterable[dict[str, Any]], now: datetime) -> list[Queued]:
        """Of a stream batch's new images (DynamoDB JSON, like a query's items), the records with a
        message due and no live lease, oldest first; the newest image of a record wins. No read:
        the image is the item, and the lease's condition checks it is still current."""
        bound = iso_utc(now)
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for image in images:
            if "finess" in image and "record_id" in image:
                newest[(image["finess"]["S"], image["record_id"]["S"])] = image
        ready: list[Queued] = []
        for image in newest.values():
            queued = image.get("export_queue", {}).get("S")
            due = image.get("next_attempt_at", {}).get("S")
            lease = image.get("lease_expires_at", {}).get("S")
            if queued not in self._shards or due is None or due > bound or (lease and lease >= bound):
                continue
            readable = self._readable(image, now)
            if readable is not None:
                ready.append(readable)
        ready.sort(key=lambda item: item.record.delivery.next_attempt_at or now)
        return ready

    def oldest_due(self, now: datetime) -> datetime | None:
        bound = iso_utc(now)
        heads = [
            item["next_attempt_at"]["S"] for shard in self._shards for item in self._shard(shard, bound, 1)
        ]
        return min(map(stored_moment, heads)) if heads else None  # a crafted one: the oldest

    def oldest_waiting_since(self) -> datetime | None:
        """When the oldest message still in the queue (queued, in flight or waiting out a backoff)
        was set: its record's `updated_at`. Reads the whole queue, updated_at only: the sweeper's
        gauge, every 5 minutes (dead letters are out of the queue: their own alarm)."""
        oldest: datetime | None = None
        for shard in self._shards:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": INDEX,
                "KeyConditionExpression": "export_queue = :q",
                "ExpressionAttributeValues": {":q": {"S": shard}},
                "ProjectionExpression": "updated_at",
            }
            while True:
                page = self._client.query(**kwargs)
                for item in page.get("Items", []):
                    at = item.get("updated_at", {}).get("S")
                    if at is not None:  # a crafted one is the oldest: it alarms, it stops no gauge
                        moment = stored_moment(at)
                        oldest = moment if oldest is None else min(oldest, moment)
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
                kwargs["ExclusiveStartKey"] = start
        return oldest

    def get(self, finess: str, record_id: str) -> tuple[ScreeningRecord, bytes | None] | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"finess": {"S": finess}, "record_id": {"S": record_id}},
            ConsistentRead=True,
        )
        if "Item" not in answer:
            return None
        return record_from_model(RecordModel.from_raw_data(answer["Item"]))

    # leasing --------------------------------------------------------------------------------
    def lease(self, items: Sequence[Queued], now: datetime, until: datetime) -> list[Queued]:
        writes: list[QueueWrite] = []
        for item in items:
            record = item.record
            writes.append(QueueWrite(record.id, "Update", self._lease_update(item, now, until)))
            marker = marker_put(self._markers, record.finess, record.id, now)
            if not delivery.already_sent(record):  # a first send: its write-once marker too
                writes.append(QueueWrite(record.id, "Put", marker))
            else:  # a writer may set first_sent_at before the first send: the marker must exist
                check = marker_check(self._markers, record.finess, record.id)
                writes.append(QueueWrite(record.id, "ConditionCheck", check, instead=marker))
        lost = self._batches.write_all(writes)
        self._set_aside_refused(items, now, leased=False)
        won = [item for item in items if item.record.id not in lost]
        for item in won:
            record = item.record
            self._leased[record.id] = (record.version, record.delivery.pending_message or MessageKind.FINAL)
            delivery.lease(record, now, until)
        return won

    def _lease_update(self, item: Queued, now: datetime, until: datetime) -> dict[str, Any]:
        record = item.record
        status = delivery.status_while_sending(record.delivery.pending_message)
        return {
            "TableName": self._table,
            "Key": record_key(record),
            "UpdateExpression": (
                "SET delivery_state = :leased, #status = :status, lease_owner = :me,"
                " lease_expires_at = :until, next_attempt_at = :until,"
                " first_sent_at = if_not_exists(first_sent_at, :now) ADD attempts :one"
            ),
            "ConditionExpression": (
                "attribute_exists(export_queue) AND #version = :v AND next_attempt_at <= :now"
                " AND (attribute_not_exists(lease_expires_at) OR lease_expires_at < :now)"
            ),
            "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
            "ExpressionAttributeValues": {
                ":leased": {"S": DeliveryState.LEASED.value},
                ":status": {"S": status.value},
                ":me": {"S": self._owner},
                ":until": {"S": iso_utc(until)},
                ":now": {"S": iso_utc(now)},
                ":v": {"N": str(record.version)},
                ":one": {"N": "1"},
            },
        }

    # outcomes -------------------------------------------------------------------------------
    def settle(self, items: Sequence[Queued], now: datetime, outcomes: dict[str, str]) -> int:
        leased = {
            item.record.id: self._leased.pop(item.record.id, (item.record.version, MessageKind.FINAL))
            for item in items
        }
        writes = [
            QueueWrite(item.record.id, "Update", self._settle_update(item, leased[item.record.id][0]))
            for item in items
        ]
        superseded = self._batches.write_all(writes)
        superseded -= self._batches.invalid  # not changed meanwhile: refused, set aside under our lease
        self._set_aside_refused(items, now, leased=True)
        for item in items:
            if item.record.id in superseded:
                version, kind = leased[item.record.id]
                self._superseded(item.record, version, kind, outcomes.get(item.record.id, ""), now)
        return len(superseded)

    def _settle_update(self, item: Queued, version: int) -> dict[str, Any]:
        record = item.record
        sets, removes, values = delivery_fields(record, retention=self._retention)
        removes += ["lease_owner", "lease_expires_at"]
        if record.delivery.state is DeliveryState.ACKNOWLEDGED:
            # SI-DEP has it: a quarantine mark left on it (repaired, or set by hand) is settled too
            removes.append("export_quarantined_at")
        values[":me"] = {"S": self._owner}
        values[":v"] = {"N": str(version)}
        return {
            "TableName": self._table,
            "Key": record_key(record),
            "UpdateExpression": update_expression(sets, removes),
            "ConditionExpression": "#version = :v AND lease_owner = :me",
            "ExpressionAttributeNames": NAMES,
            "ExpressionAttributeValues": values,
        }

    def _superseded(
        self, sent: ScreeningRecord, version: int, kind: MessageKind, outcome: str, now: datetime
    ) -> None:
        """The record changed (or our lease was lost) while its message was in flight."""
        current = self.get(sent.finess, sent.id)
        logger.info(
            "export outcome superseded",
            extra={"record_id": sent.id, "sent_version": version, "outcome": outcome},
        )
        if current is None:
            return
        record, blob = current
        if outcome != "acknowledged":
            self._release(record)
            return
        write, new_version = delivery.acknowledged_meanwhile(record, version, kind, now)
        if write:
            names = [
                "delivery_state",
                "#status",
                "attempts",
                "last_error",
                "acknowledged_version",
                "acknowledged_at",
                "pending_message",
                "next_attempt_at",
                "export_queue",
                "delivery_history",
            ]
            if blob is not None:  # never give an erased record an erase_day back
                names.append("erase_day")
            sets, removes, values = delivery_fields(record, only=names, retention=self._retention)
            values[":cv"] = {"N": str(record.version)}
            if new_version:
                # a withdrawal queued here is a new message, not a duplicate of an earlier one
                sets.append("#version = :nv")
                values[":nv"] = {"N": str(record.version + 1)}
            self._try_update(record, sets, removes, values, "#version = :cv")
        self._release(record)

    def _release(self, record: ScreeningRecord) -> None:
        self._try_update(
            record,
            [],
            ["lease_owner", "lease_expires_at"],
            {":me": {"S": self._owner}},
            "lease_owner = :me",
        )

    def _try_update(
        self,
        record: ScreeningRecord,
        sets: list[str],
        removes: list[str],
        values: dict[str, Any],
        condition: str,
    ) -> None:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": record_key(record),
            "UpdateExpression": update_expression(sets, removes),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        names = {k: v for k, v in NAMES.items() if k in " ".join([*sets, *removes, condition])}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**kwargs)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # Changed again: the lease expires by itself; a resend is a duplicate the receiver acks.

    # the operator's actions (export_operator_actions.py) ------------------------------------
    def redrive(self, now: datetime) -> int:
        """Put every dead letter back in the queue (attempts reset)."""
        return export_operator_actions.redrive(self._client, self._table, now)

    def end_backoff(self, now: datetime) -> list[tuple[str, str]]:
        """Every record waiting out a backoff after a failed attempt becomes due now; the (finess,
        record id) of those it made due."""
        return export_operator_actions.end_backoff(self._client, self._table, self._shards, now)
