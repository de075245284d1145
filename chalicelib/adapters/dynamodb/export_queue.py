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
other record (`quarantined_count` gives the operator's status the number set aside).

Every outcome is written with the condition "version unchanged and this run holds the lease",
so a record the pharmacy changed meanwhile is never overwritten: its acknowledgement is still
recorded (acknowledged_version, so a later change goes out as a correction) and the lease freed.

Batched: the per-record updates of a batch go in TransactWriteItems calls of at most 100 items
(one round trip for a whole batch, instead of one per record; a first send's lease is two items,
its update and its marker, never split between transactions), each item with its own record's
condition. A transaction is all-or-nothing, so when one is cancelled the CancellationReasons say
which items' conditions failed (the pharmacy changed the record, another run leased it): those
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
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.errors import is_conditional_failure
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
from chalicelib.domain.retention import RetentionPolicy, erase_day
from chalicelib.domain.serialization import iso_utc, stored_moment
from chalicelib.observability import logger, metrics
from chalicelib.ports import Queued

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

INDEX = "export_queue"
_T = TypeVar("_T")
PAGE_SIZE = 500
TRANSACTION_LIMIT = 100  # TransactWriteItems' item limit
# Rounds of a batch's transaction: each round drops the items whose condition failed.
TRANSACTION_ROUNDS = 4
QUARANTINE_METRIC = "ExportQuarantined"
# A lease met a record saying "sent" with no marker: its first_sent_at was written by someone else.
MISSING_MARKER_METRIC = "ExportSentMarkerMissing"


@dataclass(frozen=True)
class _Write:
    """One item of a batch's transactions: a record's Update, or the Put of its sent marker, or the
    ConditionCheck that its marker exists (`instead`: the marker's Put, where the check fails)."""

    record_id: str
    action: str  # "Update" | "Put" | "ConditionCheck"
    body: dict[str, Any]
    instead: dict[str, Any] | None = None

    @property
    def is_marker(self) -> bool:
        return self.action in ("Put", "ConditionCheck")


class DynamoDbExportQueue:
    """ExportQueue over the records table. `client` is a low-level boto3 DynamoDB client (the raw
    API costs half of PynamoDB's per call). `shards` restricts the queue to some of the export
    queue's partitions (one exporter per shard in the fan-out); default all."""

    def __init__(
        self,
        client: DynamoDBClient,
        owner: str,
        *,
        table_name: str | None = None,
        markers_table: str | None = None,
        page_size: int = PAGE_SIZE,
        workers: int = 1,
        retention: RetentionPolicy | None = None,
        shards: Sequence[str] | None = None,
    ):
        self._client = client
        self._owner = owner
        # A batch larger than one transaction writes its transactions on `workers` threads.
        self._workers = max(1, workers)
        self._shards = list(shards) if shards else export_queue_keys()
        self._table = table_name or str(RecordModel.Meta.table_name)
        self._markers = markers_table or str(SentMarkerModel.Meta.table_name)
        self._page_size = page_size
        # Leased version and message kind per record id, for the outcome's condition.
        self._leased: dict[str, tuple[int, MessageKind]] = {}
        # Records whose last write DynamoDB refused as invalid (ValidationError): to set aside.
        self._invalid: set[str] = set()
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
        self._set_aside(key, "export_queue = :q AND next_attempt_at = :due", {":q": queued, ":due": due}, now)

    def _set_aside(self, key: dict[str, Any], condition: str, values: dict[str, Any], now: datetime) -> None:
        """Out of the queue, marked quarantined, if `condition` still holds."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET export_quarantined_at = :now REMOVE export_queue",
                ConditionExpression=condition,
                ExpressionAttributeValues={":now": {"S": iso_utc(now)}, **values},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # changed since the read: the next run reads it again

    def _set_aside_refused(self, items: Sequence[Queued], now: datetime, *, leased: bool) -> None:
        """The records whose write DynamoDB refused as invalid (a ValidationError in the
        transaction: a mistyped attribute, an item grown past its size limit): set aside like an
        unreadable item, under the lease just lost (`leased`: ours) or the entry as read."""
        for item in items:
            record = item.record
            if record.id not in self._invalid:
                continue
            self._invalid.discard(record.id)
            logger.error(
                "export queue item refused by DynamoDB: quarantined",
                extra={"record_id": record.id, "finess": record.finess, "error": "ValidationError"},
            )
            metrics.add_metric(name=QUARANTINE_METRIC, unit=MetricUnit.Count, value=1)
            if leased:
                self._set_aside(_key(record), "lease_owner = :me", {":me": {"S": self._owner}}, now)
            elif record.delivery.next_attempt_at is not None:
                due = {"S": iso_utc(record.delivery.next_attempt_at)}
                queued = {"S": export_queue_key(record.id)}
                condition = "export_queue = :q AND next_attempt_at = :due"
                self._set_aside(_key(record), condition, {":q": queued, ":due": due}, now)

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

    # batched conditional writes -----------------------------------------------------------
    @staticmethod
    def _chunks(writes: Sequence[_Write]) -> list[Sequence[_Write]]:
        """Transactions of at most TRANSACTION_LIMIT items; a record's items are never split."""
        groups: list[list[_Write]] = []
        for write in writes:
            if groups and groups[-1][0].record_id == write.record_id:
                groups[-1].append(write)
            else:
                groups.append([write])
        chunks: list[list[_Write]] = []
        for group in groups:
            if not chunks or len(chunks[-1]) + len(group) > TRANSACTION_LIMIT:
                chunks.append([])
            chunks[-1].extend(group)
        return list(chunks)

    def _map(self, function: Callable[[Sequence[Any]], _T], chunks: list[Sequence[Any]]) -> list[_T]:
        if self._workers == 1 or len(chunks) < 2:
            return [function(chunk) for chunk in chunks]
        with ThreadPoolExecutor(max_workers=min(self._workers, len(chunks))) as pool:
            return list(pool.map(function, chunks))

    def _transact(self, writes: Sequence[_Write]) -> tuple[set[str], set[str]]:
        """Apply ≤100 writes in one TransactWriteItems; on cancellation drop the items whose
        condition failed and retry the rest: a record whose Update failed is dropped whole, a marker
        that exists already is dropped alone (the fact holds). Returns (ids whose condition failed,
        ids still in conflict with other transactions after TRANSACTION_ROUNDS: neither written nor
        refused)."""
        pending = list(writes)
        failed: set[str] = set()
        for _ in range(TRANSACTION_ROUNDS):
            if not pending:
                break
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        cast("TransactWriteItemTypeDef", {write.action: write.body}) for write in pending
                    ]
                )
            except ClientError as exc:
                reasons = _cancellation_reasons(exc, len(pending))
                if reasons is None:
                    raise
                refused = [w for w, code in zip(pending, reasons, strict=True) if code == _CONDITION]
                invalid = {w.record_id for w, code in zip(pending, reasons, strict=True) if code == _INVALID}
                if not refused and not invalid and _CONFLICT not in reasons:
                    raise  # cancelled for another reason (throughput): not ours to retry
                marked = {id(w) for w in refused if w.is_marker}
                dropped = {w.record_id for w in refused if not w.is_marker} | invalid
                self._invalid |= invalid
                failed |= dropped
                # the others were cancelled only with them, or for a conflict: retry them; a marker
                # that should exist and does not is created (the record's first_sent_at was forged)
                pending = [
                    _missing_marker(w) if id(w) in marked and w.instead else w
                    for w in pending
                    if w.record_id not in dropped and (id(w) not in marked or w.instead)
                ]
                continue
            pending = []
        return failed, {write.record_id for write in pending}

    def _write_all(self, writes: Sequence[_Write]) -> set[str]:
        """Every write in transactions of ≤100; what a transaction could not settle (conflicts)
        falls back to one conditional UpdateItem, or, for a lease with its marker, to a
        transaction of its own (else it is not leased). Returns the ids whose condition failed."""
        results = self._map(self._transact, self._chunks(writes))
        failed = set().union(*(f for f, _ in results))
        leftover = set().union(*(c for _, c in results))
        for rid in sorted(leftover):
            own = [write for write in writes if write.record_id == rid]
            if any(write.is_marker for write in own):
                refused, conflicted = self._transact(own)
                failed |= refused | conflicted
                continue
            try:
                self._client.update_item(**own[0].body)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ValidationException":
                    self._invalid.add(rid)
                elif not is_conditional_failure(exc):
                    raise
                failed.add(rid)
        return failed

    # leasing --------------------------------------------------------------------------------
    def lease(self, items: Sequence[Queued], now: datetime, until: datetime) -> list[Queued]:
        writes: list[_Write] = []
        for item in items:
            record = item.record
            writes.append(_Write(record.id, "Update", self._lease_update(item, now, until)))
            marker = marker_put(self._markers, record.finess, record.id, now)
            if not delivery.already_sent(record):  # a first send: its write-once marker too
                writes.append(_Write(record.id, "Put", marker))
            else:  # a writer may set first_sent_at before the first send: the marker must exist
                check = marker_check(self._markers, record.finess, record.id)
                writes.append(_Write(record.id, "ConditionCheck", check, instead=marker))
        lost = self._write_all(writes)
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
            "Key": _key(record),
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
            _Write(item.record.id, "Update", self._settle_update(item, leased[item.record.id][0]))
            for item in items
        ]
        superseded = self._write_all(writes)
        superseded -= self._invalid  # not changed meanwhile: refused, set aside under our lease
        self._set_aside_refused(items, now, leased=True)
        for item in items:
            if item.record.id in superseded:
                version, kind = leased[item.record.id]
                self._superseded(item.record, version, kind, outcomes.get(item.record.id, ""), now)
        return len(superseded)

    def _settle_update(self, item: Queued, version: int) -> dict[str, Any]:
        record = item.record
        sets, removes, values = _delivery_fields(record, retention=self._retention)
        removes += ["lease_owner", "lease_expires_at"]
        if record.delivery.state is DeliveryState.ACKNOWLEDGED:
            # SI-DEP has it: a quarantine mark left on it (repaired, or set by hand) is settled too
            removes.append("export_quarantined_at")
        values[":me"] = {"S": self._owner}
        values[":v"] = {"N": str(version)}
        return {
            "TableName": self._table,
            "Key": _key(record),
            "UpdateExpression": _expression(sets, removes),
            "ConditionExpression": "#version = :v AND lease_owner = :me",
            "ExpressionAttributeNames": _NAMES,
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
            sets, removes, values = _delivery_fields(record, only=names, retention=self._retention)
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
            "Key": _key(record),
            "UpdateExpression": _expression(sets, removes),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        names = {k: v for k, v in _NAMES.items() if k in " ".join([*sets, *removes, condition])}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**kwargs)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # Changed again: the lease expires by itself; a resend is a duplicate the receiver acks.

    # dead letters ---------------------------------------------------------------------------
    def redrive(self, now: datetime) -> int:
        """Put every dead letter back in the queue (attempts reset). Scans the table: an operator
        action, rare, and dead letters are not in the sparse index."""
        count = 0
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            # an erased record (no blob) has nothing to send: it stays a dead letter
            "FilterExpression": "delivery_state = :failed AND attribute_exists(personal)",
            "ExpressionAttributeValues": {":failed": {"S": DeliveryState.FAILED.value}},
        }
        while True:
            page = self._client.scan(**kwargs)
            for raw in page.get("Items", []):
                try:
                    record, _ = record_from_model(RecordModel.from_raw_data(raw))
                except Exception as exc:  # one unreadable dead letter must not stop the others'
                    self._quarantine_dead_letter(raw, exc, now)
                    continue
                delivery.redrive(record, now)
                sets, removes, values = _delivery_fields(record)
                values[":v"] = {"N": str(record.version)}
                values[":failed"] = {"S": DeliveryState.FAILED.value}
                try:
                    self._client.update_item(
                        TableName=self._table,
                        Key=_key(record),
                        UpdateExpression=_expression(sets, removes),
                        ConditionExpression=(
                            "#version = :v AND delivery_state = :failed AND attribute_exists(personal)"
                        ),
                        ExpressionAttributeNames=_NAMES,
                        ExpressionAttributeValues=values,
                    )
                except ClientError as exc:
                    if not is_conditional_failure(exc):
                        raise
                    continue
                count += 1
            start = page.get("LastEvaluatedKey")
            if not start:
                return count
            kwargs["ExclusiveStartKey"] = start

    def _quarantine_dead_letter(self, raw: dict[str, Any], error: Exception, now: datetime) -> None:
        """Mark an unreadable dead letter quarantined (it stays a dead letter: `status` counts it
        under both), with the ERROR log and the metric of every quarantine."""
        key = {name: raw[name] for name in ("finess", "record_id")}
        logger.error(
            "dead letter unreadable: quarantined, not re-driven",
            extra={
                "record_id": str(key["record_id"].get("S", "?")),
                "finess": str(key["finess"].get("S", "?")),
                "error": type(error).__name__,  # never its text: it may quote the value
            },
        )
        metrics.add_metric(name=QUARANTINE_METRIC, unit=MetricUnit.Count, value=1)
        failed = {":failed": {"S": DeliveryState.FAILED.value}}
        self._set_aside(key, "delivery_state = :failed", failed, now)

    # ending a backoff (the operator's `retry`) --------------------------------------------
    def end_backoff(self, now: datetime) -> list[tuple[str, str]]:
        """Every record waiting out a backoff after a failed attempt becomes due now (the outage is
        over). Conditional on the record being as read (same version, still ready, still waiting,
        no live lease): a record the pharmacy or a run changed meanwhile is left alone. Returns the
        (finess, record id) of the records it made due; the caller journals them."""
        bound = iso_utc(now)
        done: list[tuple[str, str]] = []
        for shard in self._shards:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": INDEX,
                "KeyConditionExpression": "export_queue = :q AND next_attempt_at > :now",
                "FilterExpression": "delivery_state = :ready AND attempts > :zero",
                "ExpressionAttributeValues": {
                    ":q": {"S": shard},
                    ":now": {"S": bound},
                    ":ready": {"S": DeliveryState.READY.value},
                    ":zero": {"N": "0"},
                },
            }
            while True:
                page = self._client.query(**kwargs)
                for raw in page.get("Items", []):
                    if self._end_one_backoff(raw, bound):
                        done.append((raw["finess"]["S"], raw["record_id"]["S"]))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
                kwargs["ExclusiveStartKey"] = start
        return done

    def _end_one_backoff(self, raw: dict[str, Any], bound: str) -> bool:
        if "version" not in raw:  # malformed: the export sets it aside once it is due
            return False
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"finess": raw["finess"], "record_id": raw["record_id"]},
                UpdateExpression="SET next_attempt_at = :now",
                ConditionExpression=(
                    "#version = :v AND delivery_state = :ready AND next_attempt_at = :due"
                    " AND attribute_exists(export_queue)"
                    " AND (attribute_not_exists(lease_expires_at) OR lease_expires_at < :now)"
                ),
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={
                    ":now": {"S": bound},
                    ":v": raw["version"],
                    ":ready": {"S": DeliveryState.READY.value},
                    ":due": raw["next_attempt_at"],
                },
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return False
        return True


def _missing_marker(check: _Write) -> _Write:
    """The marker's Put in place of the check that found none."""
    assert check.instead is not None
    logger.error(
        "sent marker missing for a record that says it was sent: created",
        extra={"record_id": check.record_id},
    )
    metrics.add_metric(name=MISSING_MARKER_METRIC, unit=MetricUnit.Count, value=1)
    return _Write(check.record_id, "Put", check.instead)


def quarantined_count(client: DynamoDBClient, table: str) -> int:
    """How many records the export set aside as unreadable (a scan counting them: an operator's
    read, like the dead letters'; the `ExportQuarantined` metric and its alarm say when one is)."""
    count = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "FilterExpression": "attribute_exists(export_quarantined_at)",
    }
    while True:
        page = client.scan(**kwargs)
        count += int(page.get("Count", 0))
        start = page.get("LastEvaluatedKey")
        if not start:
            return count
        kwargs["ExclusiveStartKey"] = start


# ---------------------------------------------------------------------------------------------
# Expression helpers

_CONDITION = "ConditionalCheckFailed"
_INVALID = "ValidationError"  # this item's write is refused whatever the others: a poison item
_CONFLICT = "TransactionConflict"


def _cancellation_reasons(exc: ClientError, count: int) -> list[str] | None:
    """The per-item codes of a cancelled transaction, or None if `exc` is something else."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons = exc.response.get("CancellationReasons") or []
    if len(reasons) != count:
        return None
    return [str(reason.get("Code") or "None") for reason in reasons]


_NAMES = {"#status": "status", "#version": "version"}


def _key(record: ScreeningRecord) -> dict[str, Any]:
    return {"finess": {"S": record.finess}, "record_id": {"S": record.id}}


def _delivery_fields(
    record: ScreeningRecord, only: Sequence[str] | None = None, retention: RetentionPolicy | None = None
) -> tuple[list[str], list[str], dict[str, Any]]:
    """SET / REMOVE clauses and values writing the record's delivery fields and status (and, given
    the retention policy, the erase_day an acknowledgement brings forward)."""
    d = record.delivery
    queued = delivery.has_message_to_send(record)
    fields: dict[str, dict[str, Any] | None] = {
        "delivery_state": {"S": d.state.value},
        "#status": {"S": record.status.value},
        "attempts": {"N": str(d.attempts)},
        "last_error": {"S": d.last_error} if d.last_error else None,
        "acknowledged_at": {"S": iso_utc(d.acknowledged_at)} if d.acknowledged_at else None,
        "acknowledged_version": {"N": str(d.acknowledged_version)},
        "pending_message": {"S": d.pending_message.value} if d.pending_message else None,
        "next_attempt_at": {"S": iso_utc(d.next_attempt_at)} if d.next_attempt_at and queued else None,
        "export_queue": {"S": export_queue_key(record.id)} if queued else None,
        "delivery_history": {"S": json.dumps(delivery.history_to_json(d.history))} if d.history else None,
    }
    if retention is not None and d.acknowledged_at is not None:
        due = erase_day(record.created_at, d.acknowledged_at, retention, record.time_zone)
        fields["erase_day"] = {"S": due.isoformat()}
    sets: list[str] = []
    removes: list[str] = []
    values: dict[str, Any] = {}
    for i, (name, value) in enumerate(fields.items()):
        if only is not None and name not in only:
            continue
        if value is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :f{i}")
            values[f":f{i}"] = value
    return sets, removes, values


def _expression(sets: list[str], removes: list[str]) -> str:
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if removes:
        parts.append("REMOVE " + ", ".join(removes))
    return " ".join(parts)
