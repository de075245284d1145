"""Screening records: their store, the cipher of their personal part, the NIR's blind index and
the idempotency keys of their creation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from chalicelib.domain.model import Patient, ScreeningRecord
from chalicelib.ports.changes import Change


class PersonalDataCipher(Protocol):
    """Envelope encryption of a record's personal part, bound to (finess, record id)."""

    def encrypt(self, patient: Patient, *, finess: str, record_id: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, finess: str, record_id: str) -> Patient: ...


class BlindIndex(Protocol):
    """Keyed, per-pharmacy index of a NIR: equal within one pharmacy, unlinkable across."""

    def nir_index(self, nir: str, *, finess: str) -> str: ...

    def fingerprint(self, data: bytes, *, finess: str) -> str:
        """Keyed digest of other data (an idempotent request's body)."""
        ...


@dataclass(frozen=True)
class Page:
    items: list[ScreeningRecord]
    next_cursor: str | None


class KeyTaken(Exception):
    """An Idempotency-Key was claimed already (by a first attempt, or a concurrent retry)."""


class RecordRepository(Protocol):
    def add(self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime) -> None:
        """Store a new record; raises Conflict if its id exists."""
        ...

    def get(self, finess: str, record_id: str) -> tuple[ScreeningRecord, bytes | None]:
        """The record (patient None) and its encrypted blob; NotFound if absent at that pharmacy."""
        ...

    def list_day(
        self, finess: str, day: date, *, status: str | None, limit: int, cursor: str | None
    ) -> Page: ...

    def save(self, record: ScreeningRecord, *, expected_version: int) -> None:
        """Write the record's non-personal fields if its version is still expected_version."""
        ...

    def add_change(
        self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime
    ) -> Change:
        """`add` as a Change for the journal's transaction (Conflict if the id exists)."""
        ...

    def save_change(self, record: ScreeningRecord, *, expected_version: int) -> Change:
        """`save` as a Change for the journal's transaction."""
        ...

    def find_by_nir_index(self, finess: str, nir_index: str) -> list[str]: ...


@dataclass(frozen=True)
class IdempotencyEntry:
    body_mac: str
    record_id: str
    completed: bool


class IdempotencyStore(Protocol):
    def claim_change(self, finess: str, key: str, body_mac: str, record_id: str) -> Change:
        """Claim the key, completed, in the transaction that stores the record (KeyTaken if taken)."""
        ...

    def entry(self, finess: str, key: str) -> IdempotencyEntry | None: ...

    def entries_of(self, finess: str, keys: Sequence[str]) -> dict[str, IdempotencyEntry]:
        """The claimed ones of `keys` (consistent reads, one round trip per 100 keys)."""
        ...
