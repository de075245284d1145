"""The write-once "already sent" markers (SentMarkerModel): how each reader of a record learns it.

The lease that first lets a record's message leave sets the record's `first_sent_at` and creates
its marker in one transaction (adapters/dynamodb/export_queue.py `marker_put`). The record's copy
is the one the API shows and the cheap one to test; the marker is the one no role can remove: the
exporter, which must set the fact, may only PutItem markers, and no role may update or delete one
(infra/template.py). So a reader takes the record's `first_sent_at`, and only where it is absent
asks the marker (`with_marker`, `sent_among`), and a write decided on "not sent" checks in its
transaction that no marker exists (`no_marker`): a `REMOVE first_sent_at` unsays nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.dynamodb.models import RecordModel, SentMarkerModel
from chalicelib.domain.serialization import iso_utc

BATCH_GET_SIZE = 100  # BatchGetItem's limit


def marker_put(table: str, finess: str, record_id: str, at: Any) -> dict[str, Any]:
    """The marker's PutItem for a TransactWriteItems (low-level client form): created once, never
    overwritten by the code (an existing marker fails the condition: the fact holds already)."""
    return {
        "TableName": table,
        "Item": {
            "finess": {"S": finess},
            "record_id": {"S": record_id},
            "first_sent_at": {"S": iso_utc(at)},
        },
        "ConditionExpression": "attribute_not_exists(record_id)",
    }


def with_marker(item: RecordModel) -> RecordModel:
    """The item with `first_sent_at` from its marker if the item itself lacks it (one consistent
    GetItem, only then)."""
    if item.first_sent_at is None:
        try:
            marker = SentMarkerModel.get(item.finess, item.record_id, consistent_read=True)
        except SentMarkerModel.DoesNotExist:
            return item
        item.first_sent_at = marker.first_sent_at
    return item


def sent_among(keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of these (finess, record id), those with a marker (BatchGetItem, consistent)."""
    wanted = list(keys)
    found: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), BATCH_GET_SIZE):
        chunk = wanted[start : start + BATCH_GET_SIZE]
        markers = SentMarkerModel.batch_get(
            chunk, consistent_read=True, attributes_to_get=["finess", "record_id"]
        )
        for marker in markers:
            found.add((marker.finess, marker.record_id))
    return found


def no_marker(transaction: Any, finess: str, record_id: str) -> None:
    """Registers on a PynamoDB TransactWrite the check that nothing of the record was sent."""
    transaction.condition_check(
        SentMarkerModel, finess, record_id, condition=SentMarkerModel.record_id.does_not_exist()
    )
