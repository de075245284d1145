"""Erasure of personal data on the records table, and the skeleton reads (RetentionStore).

Finding what to erase reads the sparse `by_erase_day` index one day partition at a time (keys
only), then the few attributes the policy needs with a consistent BatchGetItem that never names
the personal ones. Erasure is one conditional UpdateItem per record:

    REMOVE personal, nir_index, erase_day (the blob, the blind index entry, the purge index entry),
           the export queue entry and lease, the delivery history and last error (free text
           from SI-DEP), the pending message, the device's capture time
    SET    erased_at, updated_at, version + 1, expires_at = the skeleton's expiry,
           created_at and sampled_at truncated to their day

under the condition that the record is still as read (version, erase_day, blob present, no live
lease, and still owed nothing to SI-DEP if so read: a redrive re-queues a dead letter without
bumping the version), so a record the pharmacy or the exporter changed meanwhile is left for the
next run. A record still owed a message is held instead: its erase_day moves to the hard cap
(`hold_until`), under the condition that it is still owed and unchanged. What
stays is the skeleton: pharmacy, day, kind, device, result, status, delivery state, creator.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamodb.errors import dynamodb_errors, is_conditional_failure
from chalicelib.adapters.dynamodb.models import RecordModel
from chalicelib.adapters.dynamodb.sent_markers import no_marker, sent_among
from chalicelib.adapters.dynamodb.transactions import write_together
from chalicelib.domain.delivery import owes_sidep
from chalicelib.domain.model import DeliveryState, MessageKind, RecordStatus, ScreeningRecord, ScreeningResult
from chalicelib.domain.pharmacy_day import PARIS
from chalicelib.domain.retention import (
    RetentionFacts,
    RetentionPolicy,
    coarse_day,
    day_start,
    skeleton_expiry,
    utc_day,
)
from chalicelib.domain.serialization import iso_utc, parse_iso
from chalicelib.domain.stats import Skeleton
from chalicelib.ports import Change, ChangedMeanwhile

BATCH_GET_SIZE = 100  # BatchGetItem's limit
_FACT_ATTRIBUTES = [
    "finess",
    "record_id",
    "version",
    "created_at",
    "sampled_at",
    "acknowledged_at",
    "delivery_state",
    "erase_day",
    "lease_expires_at",
    "first_sent_at",
    "pending_message",
    "time_zone",
]
_SKELETON_ATTRIBUTES = ["status", "result", "delivery_state", "last_error"]
# Removed by every erasure: the personal part and whatever could still send or describe it.
ERASED_ATTRIBUTES = (
    "personal",
    "nir_index",
    "erase_day",
    "export_queue",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    "pending_message",
    "delivery_history",
    "last_error",
    "captured_at",  # to the second, like created_at and sampled_at (truncated): not kept precise
)


def _facts(item: RecordModel, marked: bool = False) -> RetentionFacts:
    return RetentionFacts(
        finess=item.finess,
        record_id=item.record_id,
        version=int(item.version),
        created_at=parse_iso(item.created_at),
        sampled_at=parse_iso(item.sampled_at),
        acknowledged_at=parse_iso(item.acknowledged_at) if item.acknowledged_at else None,
        delivery_state=DeliveryState(item.delivery_state),
        erase_day=date.fromisoformat(item.erase_day) if item.erase_day else None,
        lease_expires_at=parse_iso(item.lease_expires_at) if item.lease_expires_at else None,
        already_sent=item.first_sent_at is not None or marked,
        message_pending=owes_sidep(MessageKind(item.pending_message) if item.pending_message else None),
        time_zone=item.time_zone or PARIS,
    )


def _erasure_actions(
    created_at: datetime, sampled_at: datetime, version: int, now: datetime, policy: RetentionPolicy
) -> list[Any]:
    return [
        RecordModel.erased_at.set(iso_utc(now)),
        RecordModel.updated_at.set(iso_utc(now)),
        RecordModel.version.set(version + 1),
        RecordModel.expires_at.set(skeleton_expiry(created_at, policy)),
        RecordModel.created_at.set(iso_utc(day_start(utc_day(created_at)))),
        RecordModel.sampled_at.set(coarse_day(sampled_at).isoformat()),
        *(getattr(RecordModel, name).remove() for name in ERASED_ATTRIBUTES),
    ]


def _still_owed(facts: RetentionFacts) -> Any:
    """Holds `owes_sidep` as read at the write (its stored form: `pending_message` is set)."""
    if facts.message_pending:
        return RecordModel.pending_message.exists()
    return RecordModel.pending_message.does_not_exist()


class DynamoDbRetentionStore:
    def __init__(self, batch_size: int = BATCH_GET_SIZE) -> None:
        self._batch_size = max(1, min(BATCH_GET_SIZE, batch_size))

    # reading --------------------------------------------------------------------------------
    def on_erase_day(self, day: date) -> Iterator[RetentionFacts]:
        keys: list[tuple[str, str]] = []
        with dynamodb_errors():
            for item in RecordModel.by_erase_day.query(day.isoformat()):
                keys.append((item.finess, item.record_id))
                if len(keys) >= self._batch_size:
                    yield from self._read(keys)
                    keys = []
            if keys:
                yield from self._read(keys)

    def _read(self, keys: Sequence[tuple[str, str]]) -> Iterator[RetentionFacts]:
        items = list(RecordModel.batch_get(keys, consistent_read=True, attributes_to_get=_FACT_ATTRIBUTES))
        # "already sent" as the write-once marker says where the item lacks it (sent_markers.py)
        marked = sent_among((i.finess, i.record_id) for i in items if i.first_sent_at is None)
        facts = [_facts(item, (item.finess, item.record_id) in marked) for item in items]
        order = {key: i for i, key in enumerate(keys)}
        yield from sorted(facts, key=lambda f: order[(f.finess, f.record_id)])

    def day_skeletons(self, finess: str, day: date) -> list[Skeleton]:
        with dynamodb_errors():
            return [
                Skeleton(
                    status=RecordStatus(item.status),
                    result=ScreeningResult(item.result) if item.result else None,
                    delivery_state=DeliveryState(item.delivery_state),
                    rejection=item.last_error if item.delivery_state == DeliveryState.REJECTED else None,
                )
                for item in RecordModel.by_day.query(
                    f"{finess}#{day.isoformat()}", attributes_to_get=_SKELETON_ATTRIBUTES
                )
            ]

    # erasing --------------------------------------------------------------------------------
    def erase_expired(self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy) -> bool:
        if facts.erase_day is None:
            return False
        return self._update(facts.finess, facts.record_id, *self._expired(facts, now, policy))

    def erase_expired_change(
        self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        if facts.erase_day is None:
            raise ValueError("nothing to erase: no erase day")
        return _change(facts.finess, facts.record_id, *self._expired(facts, now, policy))

    def erase_unsent_change(
        self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        item = RecordModel(record.finess, record.id)
        actions, condition = self._unsent(record, now, policy)

        def write(t: Any) -> None:
            t.update(item, actions=actions, condition=condition)
            no_marker(t, record.finess, record.id)  # nothing sent, as the write-once marker says

        return Change(write=write, conflict=lambda _failed: ChangedMeanwhile())

    @staticmethod
    def _expired(facts: RetentionFacts, now: datetime, policy: RetentionPolicy) -> tuple[list[Any], Any]:
        assert facts.erase_day is not None
        condition = (
            (RecordModel.version == facts.version)
            & (RecordModel.erase_day == facts.erase_day.isoformat())
            & RecordModel.personal.exists()
            & (RecordModel.lease_expires_at.does_not_exist() | (RecordModel.lease_expires_at < iso_utc(now)))
            & _still_owed(facts)
        )
        actions = _erasure_actions(facts.created_at, facts.sampled_at, facts.version, now, policy)
        return actions, condition

    def hold_until(self, facts: RetentionFacts, day: date) -> bool:
        """Move an owed record's erase_day to `day`; the version stays (nothing the pharmacy sees
        changed), so no save of hers is refused for it."""
        if facts.erase_day is None or not facts.message_pending:
            return False
        condition = (
            (RecordModel.version == facts.version)
            & (RecordModel.erase_day == facts.erase_day.isoformat())
            & RecordModel.personal.exists()
            & _still_owed(facts)
        )
        actions = [RecordModel.erase_day.set(day.isoformat())]
        return self._update(facts.finess, facts.record_id, actions, condition)

    def erase_unsent(self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy) -> bool:
        """Erase a record nothing of which was sent (the caller checked `already_sent`): the condition
        holds that fact at the write, record and marker, so a lease since makes it fail."""
        change = self.erase_unsent_change(record, now=now, policy=policy)
        with dynamodb_errors():
            try:
                return write_together(RecordModel._get_connection().connection, [change])
            except ChangedMeanwhile:
                return False

    @staticmethod
    def _unsent(record: ScreeningRecord, now: datetime, policy: RetentionPolicy) -> tuple[list[Any], Any]:
        condition = (
            (RecordModel.version == record.version)
            & RecordModel.personal.exists()
            & RecordModel.first_sent_at.does_not_exist()
        )
        actions = [
            *_erasure_actions(record.created_at, record.test.sampled_at, record.version, now, policy),
            RecordModel.status.set(RecordStatus.CANCELLED.value),
            RecordModel.delivery_state.set(DeliveryState.CANCELLED.value),
        ]
        return actions, condition

    def _update(self, finess: str, record_id: str, actions: list[Any], condition: Any) -> bool:
        with dynamodb_errors():
            try:
                RecordModel(finess, record_id).update(actions=actions, condition=condition)
            except UpdateError as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True


def _change(finess: str, record_id: str, actions: list[Any], condition: Any) -> Change:
    item = RecordModel(finess, record_id)
    return Change(
        write=lambda t: t.update(item, actions=actions, condition=condition),
        conflict=lambda _failed: ChangedMeanwhile(),
    )
