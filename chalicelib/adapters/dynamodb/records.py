"""The record repository on DynamoDB. Every key and query takes the pharmacy from the caller."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import date, datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters.dynamodb.errors import dynamodb_errors, is_conditional_failure
from chalicelib.adapters.dynamodb.models import RecordModel, export_queue_key
from chalicelib.adapters.dynamodb.sent_markers import no_marker, with_marker
from chalicelib.domain.delivery import already_sent, has_message_to_send
from chalicelib.domain.errors import (
    CURSOR_OF_ANOTHER_LISTING,
    Conflict,
    ConflictReason,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.model import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    MessageKind,
    RecordStatus,
    ScreeningKind,
    ScreeningRecord,
    ScreeningResult,
    ScreeningTest,
)
from chalicelib.domain.pharmacy_day import PARIS
from chalicelib.domain.retention import RetentionPolicy, erase_day
from chalicelib.domain.serialization import iso_utc, parse_iso
from chalicelib.ports import Change, Page


def _opt_time(text: str | None) -> Any:
    return parse_iso(text) if text else None


def record_from_model(item: RecordModel) -> tuple[ScreeningRecord, bytes | None]:
    """The domain record (patient left None: it is inside the blob) and its encrypted blob."""
    history = [
        DeliveryEvent(at=parse_iso(h["at"]), event=h["event"], detail=h.get("detail", ""))
        for h in item.delivery_history or []
    ]
    delivery = Delivery(
        state=DeliveryState(item.delivery_state),
        attempts=int(item.attempts),
        last_error=item.last_error,
        acknowledged_at=_opt_time(item.acknowledged_at),
        next_attempt_at=_opt_time(item.next_attempt_at),
        acknowledged_version=int(item.acknowledged_version),
        pending_message=MessageKind(item.pending_message) if item.pending_message else None,
        history=history,
        first_sent_at=_opt_time(item.first_sent_at),
    )
    record = ScreeningRecord(
        id=item.record_id,
        finess=item.finess,
        patient=None,
        test=ScreeningTest(
            kind=ScreeningKind(item.kind),
            device_id=item.device_id,
            sampled_at=parse_iso(item.sampled_at),
            result=ScreeningResult(item.result) if item.result else None,
            captured_at=_opt_time(item.captured_at),
        ),
        status=RecordStatus(item.status),
        created_at=parse_iso(item.created_at),
        updated_at=parse_iso(item.updated_at),
        created_by=item.created_by,
        version=int(item.version),
        delivery=delivery,
        time_zone=item.time_zone or PARIS,  # records stored before zones were kept: mainland
    )
    return record, item.personal


def apply_record(item: RecordModel, record: ScreeningRecord) -> None:
    """Copy the record's non-personal fields onto the item (the blob and index are set apart)."""
    item.finess_day = f"{record.finess}#{record.day.isoformat()}"
    item.time_zone = record.time_zone
    item.created_at = iso_utc(record.created_at)
    item.updated_at = iso_utc(record.updated_at)
    item.created_by = record.created_by
    item.version = record.version
    item.status = record.status.value
    item.kind = record.test.kind.value
    item.device_id = record.test.device_id
    item.sampled_at = record.test.sampled_at.isoformat()
    item.result = record.test.result.value if record.test.result else None
    item.captured_at = record.test.captured_at.isoformat() if record.test.captured_at else None
    d = record.delivery
    item.delivery_state = d.state.value
    item.attempts = d.attempts
    item.last_error = d.last_error
    item.acknowledged_at = iso_utc(d.acknowledged_at) if d.acknowledged_at else None
    item.acknowledged_version = d.acknowledged_version
    item.pending_message = d.pending_message.value if d.pending_message else None
    item.next_attempt_at = iso_utc(d.next_attempt_at) if d.next_attempt_at else None
    # the sparse export index holds exactly the records with a message waiting
    item.export_queue = export_queue_key(record.id) if has_message_to_send(record) else None
    item.delivery_history = [
        {"at": iso_utc(h.at), "event": h.event, "detail": h.detail} for h in d.history
    ] or None


def encode_cursor(finess: str, key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps({"f": finess, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# The formats of the key attributes a record listing's cursor may carry besides the fixed ones:
# what this service writes (a lower-case UUID, iso_utc). Real DynamoDB refuses an empty or
# mistyped key value with a ValidationException; we refuse it first, as a 400.
CURSOR_FORMATS = {
    "record_id": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "created_at": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),
}
CURSOR_MAX_CHARS = 1024  # what encode_cursor gives is about 300


def _valid_free_value(name: str, text: str) -> bool:
    if not CURSOR_FORMATS[name].fullmatch(text):
        return False
    if name == "created_at":
        try:
            parse_iso(text)
        except ValueError:
            return False
    return True


def decode_cursor(cursor: str | None, fixed: dict[str, str], free: tuple[str, ...]) -> dict[str, Any] | None:
    """The start key a cursor names, if it is one this listing could have given: exactly the index's
    key attributes, as strings, with the pharmacy's (and day's) values where they are `fixed` and
    the others in the format this service writes (CURSOR_FORMATS).
    Anything else, another pharmacy's cursor included, is a 400 on `cursor`, never a query."""
    if not cursor:
        return None
    try:
        if len(cursor) > CURSOR_MAX_CHARS:
            raise ValueError("too long")
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data.get("k") if isinstance(data, dict) else None
        if not isinstance(key, dict) or set(key) != {*fixed, *free}:
            raise ValueError("not a key of this listing")
        for name, value in key.items():
            if not (isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)):
                raise ValueError("not a key of this listing")
            if name in fixed and value["S"] != fixed[name]:
                raise ValueError("a cursor of another listing")
            if name not in fixed and not _valid_free_value(name, value["S"]):
                raise ValueError("not a key this listing writes")
        checked: dict[str, Any] = key
        return checked
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed([CURSOR_OF_ANOTHER_LISTING.at("cursor")]) from exc


class DynamoDbRecordRepository:
    def __init__(self, retention: RetentionPolicy | None = None) -> None:
        self._retention = retention or RetentionPolicy()

    def add(self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime) -> None:
        item = self._new_item(record, blob, nir_index, expires_at=expires_at)
        with dynamodb_errors():
            try:
                item.save(condition=RecordModel.record_id.does_not_exist())
            except PutError as exc:
                if is_conditional_failure(exc):
                    raise Conflict(
                        "A record with this id exists.", reason=ConflictReason.RECORD_EXISTS
                    ) from exc
                raise

    def add_change(
        self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime
    ) -> Change:
        item = self._new_item(record, blob, nir_index, expires_at=expires_at)
        return Change(
            write=lambda t: t.save(item, condition=RecordModel.record_id.does_not_exist()),
            conflict=lambda _failed: Conflict(
                "A record with this id exists.", reason=ConflictReason.RECORD_EXISTS
            ),
        )

    def _new_item(
        self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime
    ) -> RecordModel:
        item = RecordModel(record.finess, record.id)
        apply_record(item, record)
        item.personal = blob
        item.nir_index = nir_index
        # the day the purge erases the blob (sparse index by_erase_day); the exporter's
        # acknowledgement brings it forward
        due = erase_day(record.created_at, record.delivery.acknowledged_at, self._retention, record.time_zone)
        item.erase_day = due.isoformat()
        item.expires_at = expires_at  # the whole item's backstop, enforced by DynamoDB TTL
        return item

    def _item(self, finess: str, record_id: str) -> RecordModel:
        with dynamodb_errors():
            try:
                item = RecordModel.get(finess, record_id, consistent_read=True)
            except RecordModel.DoesNotExist as exc:
                raise NotFound("No such test record.") from exc
            # "already sent" as the write-once marker says, whatever the item says (sent_markers.py)
            return with_marker(item)

    def get(self, finess: str, record_id: str) -> tuple[ScreeningRecord, bytes | None]:
        return record_from_model(self._item(finess, record_id))

    def list_day(self, finess: str, day: date, *, status: str | None, limit: int, cursor: str | None) -> Page:
        partition = f"{finess}#{day.isoformat()}"
        start = decode_cursor(
            cursor, {"finess": finess, "finess_day": partition}, free=("record_id", "created_at")
        )
        condition = RecordModel.status == status if status else None
        with dynamodb_errors():
            results = RecordModel.by_day.query(
                partition,
                filter_condition=condition,
                limit=limit,
                page_size=limit,
                last_evaluated_key=start,
            )
            items = [record_from_model(item)[0] for item in results]
            next_key = results.last_evaluated_key
        return Page(items=items, next_cursor=encode_cursor(finess, next_key))

    @staticmethod
    def _update(record: ScreeningRecord, expected_version: int) -> tuple[RecordModel, list[Any], Any]:
        item = RecordModel(record.finess, record.id)
        apply_record(item, record)
        actions = [
            getattr(RecordModel, name).set(getattr(item, name))
            for name in _MUTABLE
            if getattr(item, name) is not None
        ]
        actions += [getattr(RecordModel, name).remove() for name in _MUTABLE if getattr(item, name) is None]
        # an erased record cannot change any more: nothing could be sent for it
        condition = (
            (RecordModel.version == expected_version)
            & RecordModel.record_id.exists()
            & RecordModel.personal.exists()
        )
        if not already_sent(record):
            # decided on a record nothing of which had left: a lease since (which does not bump the
            # version) makes it a conflict. `first_sent_at` itself is the lease's to write, never a save's.
            condition &= RecordModel.first_sent_at.does_not_exist()
        return item, actions, condition

    def _save_conflict(self, record: ScreeningRecord) -> Conflict:
        with dynamodb_errors():
            erased = self._erased(record.finess, record.id)
        if erased:
            return Conflict(
                "The personal data of this test was erased (retention policy or the "
                "patient's request); it can no longer be changed.",
                reason=ConflictReason.ERASED,
            )
        return Conflict(
            "The record changed meanwhile; reload it and retry.", reason=ConflictReason.CHANGED_MEANWHILE
        )

    def save(self, record: ScreeningRecord, *, expected_version: int) -> None:
        item, actions, condition = self._update(record, expected_version)
        with dynamodb_errors():
            try:
                item.update(actions=actions, condition=condition)
            except UpdateError as exc:
                if is_conditional_failure(exc):
                    raise self._save_conflict(record) from exc
                raise

    def save_change(self, record: ScreeningRecord, *, expected_version: int) -> Change:
        item, actions, condition = self._update(record, expected_version)
        unsent = not already_sent(record)

        def write(t: Any) -> None:
            t.update(item, actions=actions, condition=condition)
            if unsent:  # decided on "nothing sent": a marker since (or a removed first_sent_at) refuses it
                no_marker(t, record.finess, record.id)

        return Change(write=write, conflict=lambda _failed: self._save_conflict(record))

    def _erased(self, finess: str, record_id: str) -> bool:
        try:
            item = RecordModel.get(finess, record_id, consistent_read=True, attributes_to_get=["erased_at"])
        except RecordModel.DoesNotExist:
            return False
        return item.erased_at is not None

    def find_by_nir_index(self, finess: str, nir_index: str) -> list[str]:
        with dynamodb_errors():
            return [
                item.record_id for item in RecordModel.by_patient.query(nir_index) if item.finess == finess
            ]


# Attributes a save may change: never the keys, the blob or the blind index.
_MUTABLE = (
    "updated_at",
    "version",
    "status",
    "result",
    "delivery_state",
    "attempts",
    "last_error",
    "acknowledged_at",
    "acknowledged_version",
    "pending_message",
    "next_attempt_at",
    "export_queue",
    "delivery_history",
)
