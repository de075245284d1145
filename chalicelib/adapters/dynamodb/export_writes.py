"""The export queue's conditional writes (chalicelib/adapters/dynamodb/export_queue.py tells which and
why): a record's delivery fields as SET / REMOVE clauses, and batches of writes in TransactWriteItems
calls of at most 100 items, a record's items never split, each item with its own condition. When a
transaction is cancelled, its CancellationReasons say which items' conditions failed: those are
dropped and the rest retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.errors import is_conditional_failure
from chalicelib.adapters.dynamodb.models import export_queue_key
from chalicelib.domain import delivery
from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.retention import RetentionPolicy, erase_day
from chalicelib.domain.serialization import iso_utc
from chalicelib.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_T = TypeVar("_T")
INDEX = "export_queue"  # the records table's sparse index of the records with a message waiting
QUARANTINE_METRIC = "ExportQuarantined"  # a queued item set aside as unreadable or refused
TRANSACTION_LIMIT = 100  # TransactWriteItems' item limit
# Rounds of a batch's transaction: each round drops the items whose condition failed.
TRANSACTION_ROUNDS = 4
# A lease met a record saying "sent" with no marker: its first_sent_at was written by someone else.
MISSING_MARKER_METRIC = "ExportSentMarkerMissing"


@dataclass(frozen=True)
class QueueWrite:
    """One item of a batch's transactions: a record's Update, or the Put of its sent marker, or the
    ConditionCheck that its marker exists (`instead`: the marker's Put, where the check fails)."""

    record_id: str
    action: str  # "Update" | "Put" | "ConditionCheck"
    body: dict[str, Any]
    instead: dict[str, Any] | None = None

    @property
    def is_marker(self) -> bool:
        return self.action in ("Put", "ConditionCheck")


class TransactionBatches:
    """Writes batches of QueueWrites on `workers` threads (a batch larger than one transaction).
    `invalid` collects the records whose write DynamoDB refused as invalid (ValidationError): the
    queue sets them aside."""

    def __init__(self, client: DynamoDBClient, workers: int = 1) -> None:
        self._client = client
        self._workers = max(1, workers)
        self.invalid: set[str] = set()

    @staticmethod
    def _chunks(writes: Sequence[QueueWrite]) -> list[Sequence[QueueWrite]]:
        """Transactions of at most TRANSACTION_LIMIT items; a record's items are never split."""
        groups: list[list[QueueWrite]] = []
        for write in writes:
            if groups and groups[-1][0].record_id == write.record_id:
                groups[-1].append(write)
            else:
                groups.append([write])
        chunks: list[list[QueueWrite]] = []
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

    def _transact(self, writes: Sequence[QueueWrite]) -> tuple[set[str], set[str]]:
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
                self.invalid |= invalid
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

    def write_all(self, writes: Sequence[QueueWrite]) -> set[str]:
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
                    self.invalid.add(rid)
                elif not is_conditional_failure(exc):
                    raise
                failed.add(rid)
        return failed


def _missing_marker(check: QueueWrite) -> QueueWrite:
    """The marker's Put in place of the check that found none."""
    assert check.instead is not None
    logger.error(
        "sent marker missing for a record that says it was sent: created",
        extra={"record_id": check.record_id},
    )
    metrics.add_metric(name=MISSING_MARKER_METRIC, unit=MetricUnit.Count, value=1)
    return QueueWrite(check.record_id, "Put", check.instead)


def set_aside(
    client: DynamoDBClient,
    table: str,
    key: dict[str, Any],
    condition: str,
    values: dict[str, Any],
    now: datetime,
) -> None:
    """Out of the queue, marked quarantined, if `condition` still holds."""
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET export_quarantined_at = :now REMOVE export_queue",
            ConditionExpression=condition,
            ExpressionAttributeValues={":now": {"S": iso_utc(now)}, **values},
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        # changed since the read: the next run reads it again


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


NAMES = {"#status": "status", "#version": "version"}


def record_key(record: ScreeningRecord) -> dict[str, Any]:
    return {"finess": {"S": record.finess}, "record_id": {"S": record.id}}


def delivery_fields(
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


def update_expression(sets: list[str], removes: list[str]) -> str:
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if removes:
        parts.append("REMOVE " + ", ".join(removes))
    return " ".join(parts)
