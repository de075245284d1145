"""The SI-DEP export (chalicelib/services/export.py): the queue of records owed, the batch sender
and what crosses them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.model import MessageKind, Patient, ScreeningRecord


@dataclass(frozen=True)
class Outbound:
    """One record version's message to send."""

    record: ScreeningRecord
    patient: Patient
    kind: MessageKind


@dataclass(frozen=True)
class Receipt:
    accepted: bool
    message_id: str
    reason: str = ""  # a rejection's code and category (delivery.rejection_reason): never SI-DEP's text


@dataclass(frozen=True)
class SendReport:
    batch_id: str
    receipts: dict[str, Receipt]  # by record id; a record without a receipt is retried


class SendFailed(Exception):
    """The batch got no readable answer (down, timeout, 5xx, cut). Safe to resend. The message
    names the failure kind only. `retry_after` (seconds): SI-DEP asked us to slow down (429/503):
    the batch's records wait at least that long and the run stops sending."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchSender(Protocol):
    def send(self, items: Sequence[Outbound], now: datetime) -> SendReport: ...


@dataclass
class Queued:
    """A record with a message waiting, and its encrypted patient blob."""

    record: ScreeningRecord
    blob: bytes | None


class ExportQueue(Protocol):
    def due(self, now: datetime) -> Iterator[Queued]:
        """Records whose next attempt is due, oldest first, streamed."""
        ...

    def lease(self, items: Sequence[Queued], now: datetime, until: datetime) -> list[Queued]:
        """Lease what no live lease holds, if unchanged since read; returns the leased items
        (their records transitioned to `leased`)."""
        ...

    def settle(self, items: Sequence[Queued], now: datetime, outcomes: dict[str, str]) -> int:
        """Write each leased record's delivery fields as transitioned in memory, if this queue
        still holds its lease and its version is unchanged. `outcomes` maps record id to
        acknowledged | rejected | retry. Returns how many had changed meanwhile."""
        ...

    def oldest_due(self, now: datetime) -> datetime | None: ...


# --- the export's wiring and its fan-out


class ExportRunQueue(ExportQueue, Protocol):
    """The export queue as one run holds it (its leases are the run's): the sweeper reads the due
    range, the trigger a stream batch's new images."""

    def ready_in(self, images: Sequence[dict[str, Any]], now: datetime) -> list[Queued]:
        """Of a stream batch's new images, the records with a message due and no live lease,
        oldest first (no read: the lease's condition checks each is still current)."""
        ...


class ExportQueues(Protocol):
    """One queue per export run: `owner` (the run's id) holds its leases; `shards` restricts it to
    some of the export queue's shards (the fan-out's consumer), None to all."""

    def __call__(self, owner: str, shards: Sequence[str] | None) -> ExportRunQueue: ...


class MessageQueue(Protocol):
    """A message queue (the export's fan-out: one message per export-queue shard)."""

    def send_all(self, bodies: Sequence[str]) -> int:
        """Send every body, or raise: a message the queue refused is never dropped silently.
        Returns how many were sent."""
        ...
