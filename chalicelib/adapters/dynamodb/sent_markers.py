"""The write-once "already sent" markers (SentMarkerModel): how each reader of a record learns it.

The lease that first lets a record's message leave sets the record's `first_sent_at` and creates
its marker in one transaction (adapters/dynamodb/export_queue.py `marker_put`). The record's copy
is the one the API shows and the cheap one to test; the marker is the one no role can remove: the
exporter, which must set the fact, may only PutItem markers, and no role may update or delete one
(infra/template/access.py). So a reader takes the record's `first_sent_at`, and only where it is absent
asks the marker (`with_marker`, `sent_among`), and a write decided on "not sent" checks in its
transaction that no marker exists (`no_marker`): a `REMOVE first_sent_at` unsays nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.dynamodb.models import RecordModel, SentMarkerModel
from chalicelib.domain.serialization import iso_utc, parse_iso

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


def marker_check(table: str, finess: str, record_id: str) -> dict[str, Any]:
    """A ConditionCheck for a TransactWriteItems: the record's marker exists. The lease of a record
    read with `first_sent_at` checks it (a writer may have set the record's copy before the first
    send, so that no marker was ever made); where it fails, the lease creates the marker instead."""
    return {
        "TableName": table,
        "Key": {"finess": {"S": finess}, "record_id": {"S": record_id}},
        "ConditionExpression": "attribute_exists(record_id)",
    }


def with_marker(item: RecordModel) -> RecordModel:
    """The item with `first_sent_at` from its marker if the item itself lacks it (one consistent
    GetItem, only then). A marker is the fact by its existence: the exporter may PutItem over one
    without a condition, so a marker whose time is missing or unreadable still says "sent" (at the
    record's creation, the earliest it could have been)."""
    if item.first_sent_at is None:
        data = SentMarkerModel._get_connection().get_item(
            item.finess, range_key=item.record_id, consistent_read=True
        )
        raw = (data or {}).get("Item")
        if not raw:
            return item
        item.first_sent_at = _readable_time(raw.get("first_sent_at")) or item.created_at
    return item


def _readable_time(value: Any) -> str | None:
    """A marker's stored time if it is an ISO time with its offset, else None."""
    text = value.get("S") if isinstance(value, dict) else None
    if not isinstance(text, str):
        return None
    try:
        moment = parse_iso(text)
        return iso_utc(moment) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


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
