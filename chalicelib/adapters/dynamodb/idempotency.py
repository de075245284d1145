"""Idempotency-Key bookkeeping on DynamoDB: a keyed MAC of the body and the record id, never the body.

The entry is claimed (with the record id chosen in advance) before the record is written, so a
crash between the two leaves a claim whose record id a retry reuses: nothing lost, nothing doubled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from chalicelib.adapters.dynamodb.errors import dynamodb_errors
from chalicelib.adapters.dynamodb.models import IdempotencyModel
from chalicelib.domain.serialization import iso_utc
from chalicelib.ports import Change, Clock, IdempotencyEntry, KeyTaken


class DynamoDbIdempotencyStore:
    def __init__(self, clock: Clock, ttl_seconds: int) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)

    @staticmethod
    def _key(finess: str, key: str) -> str:
        return f"{finess}#{key}"

    def _item(self, finess: str, key: str, body_mac: str, record_id: str, state: str) -> IdempotencyModel:
        now: datetime = self._clock.now()
        return IdempotencyModel(
            self._key(finess, key),
            body_mac=body_mac,
            record_id=record_id,
            state=state,
            created_at=iso_utc(now),
            expires_at=now + self._ttl,
        )

    def claim_change(self, finess: str, key: str, body_mac: str, record_id: str) -> Change:
        """The claim, already completed: it is stored with the record and its event, or not at all."""
        item = self._item(finess, key, body_mac, record_id, "completed")
        return Change(
            write=lambda t: t.save(item, condition=IdempotencyModel.key.does_not_exist()),
            conflict=lambda _failed: KeyTaken(),
        )

    def entry(self, finess: str, key: str) -> IdempotencyEntry | None:
        with dynamodb_errors():
            try:
                existing = IdempotencyModel.get(self._key(finess, key), consistent_read=True)
            except IdempotencyModel.DoesNotExist:
                return None
        return IdempotencyEntry(
            body_mac=existing.body_mac, record_id=existing.record_id, completed=existing.state == "completed"
        )

    def entries_of(self, finess: str, keys: Sequence[str]) -> dict[str, IdempotencyEntry]:
        """BatchGetItem, consistent: PynamoDB sends 100 keys a call and asks again for any
        DynamoDB left unprocessed."""
        found: dict[str, IdempotencyEntry] = {}
        prefix = self._key(finess, "")
        with dynamodb_errors():
            for item in IdempotencyModel.batch_get(
                [self._key(finess, key) for key in keys], consistent_read=True
            ):
                found[item.key[len(prefix) :]] = IdempotencyEntry(
                    body_mac=item.body_mac, record_id=item.record_id, completed=item.state == "completed"
                )
        return found
