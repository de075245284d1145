"""The SI-DEP export: send every record with a message waiting, within a time budget.

One run: stream the due records from the queue (oldest first, page by page: memory does not
grow with the backlog), take them `batch_size` at a time, lease each with a conditional write
(a record leased by another run is skipped), decrypt the patients, hand the batch to the sender,
record each record's outcome (acknowledged / rejected / retry with backoff / dead letter) with a
conditional write, and journal one `export` audit event per pharmacy of the batch. The run stops
taking batches when the time left is less than one batch may need.

The format and the transport are behind `BatchSender`; the queue behind `ExportQueue`. Both
are ports (Protocols) here, not in ports.py, because only this use case needs them.

Crash safety: a lease expires. A run that dies between sending and recording leaves records
leased; once the lease expires they are due again and are resent with the same message control
ids, which the receiver recognises as duplicates (and acknowledges again).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.config import Settings
from chalicelib.domain import delivery
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.errors import DomainError
from chalicelib.domain.model import DeliveryState, MessageKind, Patient, ScreeningRecord
from chalicelib.observability import logger, metrics
from chalicelib.services.ports import AuditJournal, Clock, PersonalDataCipher

EXPORT_ACTOR = "sidep-exporter"
EXPORT_ROLE = "system"


# ---------------------------------------------------------------------------------------------
# Ports


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


# ---------------------------------------------------------------------------------------------
# Settings and summary


@dataclass(frozen=True)
class ExportSettings:
    time_budget_seconds: float = 240.0
    batch_size: int = 100
    # A lease outlives one batch's send + marks, with margin; then a crashed run's records are due again.
    lease_seconds: float = 120.0
    # The longest one batch may take (transport timeouts + writes): no batch starts with less left.
    batch_reserve_seconds: float = 30.0
    backoff: delivery.BackoffPolicy = field(default_factory=delivery.BackoffPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, *, time_budget_seconds: float | None = None) -> ExportSettings:
        transport = 5.0 + float(settings.sidep_timeout_seconds)  # connect + read
        return cls(
            time_budget_seconds=float(
                settings.export_time_budget_seconds if time_budget_seconds is None else time_budget_seconds
            ),
            batch_size=max(1, settings.sidep_batch_size),
            lease_seconds=max(60.0, 2 * transport + 60.0),
            batch_reserve_seconds=transport + 15.0,
            backoff=delivery.BackoffPolicy(max_attempts=max(1, settings.export_max_attempts)),
        )


@dataclass
class ExportSummary:
    batches: int = 0
    leased: int = 0
    skipped: int = 0  # due but leased by another run (or changed) meanwhile
    sent: int = 0  # messages in batches that reached the transport
    acknowledged: int = 0
    rejected: int = 0
    retried: int = 0
    failed: int = 0  # dead letters
    superseded: int = 0  # changed by the pharmacy while in flight
    stopped_by_budget: bool = False
    stopped_by_receiver: bool = False  # SI-DEP asked us to slow down (429/503)
    oldest_ready_age_seconds: float = 0.0
    elapsed_seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# The use case


def _batches(items: Iterable[Queued], size: int) -> Iterator[list[Queued]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def run_export(
    *,
    queue: ExportQueue,
    cipher: PersonalDataCipher,
    sender: BatchSender,
    journal: AuditJournal,
    clock: Clock,
    settings: ExportSettings,
    rand: Callable[[], float] = random.random,
    monotonic: Callable[[], float] = time.monotonic,
    run_id: str | None = None,
    changed: Iterable[Queued] | None = None,
) -> ExportSummary:
    """One export run. Returns what it did; emits the export metrics.

    `changed`: the trigger's run, over the records a stream batch named (their new images) rather
    than the queue's due range; the lease's condition still decides which of them go."""
    run_id = run_id or f"export-{uuid.uuid4().hex[:12]}"
    started = monotonic()
    summary = ExportSummary()
    deadline = started + settings.time_budget_seconds - settings.batch_reserve_seconds
    start_now = clock.now()
    candidates = iter(changed) if changed is not None else queue.due(start_now)
    # Leasing takes a batch's worth of due records; the ones another run holds are skipped.
    pending: list[Queued] = []
    exhausted = False
    while True:
        if monotonic() >= deadline:
            summary.stopped_by_budget = True
            break
        if summary.stopped_by_receiver:
            break
        now = clock.now()
        leased: list[Queued] = []
        while len(leased) < settings.batch_size and not exhausted:
            want = settings.batch_size - len(leased)
            pending = list(islice(candidates, want))
            if not pending:
                exhausted = True
                break
            got = queue.lease(pending, now, now + timedelta(seconds=settings.lease_seconds))
            summary.skipped += len(pending) - len(got)
            leased.extend(got)
        if not leased:
            break
        summary.leased += len(leased)
        _export_batch(leased, queue, cipher, sender, journal, clock, settings, rand, summary, run_id)
    summary.elapsed_seconds = monotonic() - started
    # the sweeper's gauge (8 queries): a trigger run, over a few records, does not pay for it
    oldest = queue.oldest_due(clock.now()) if changed is None else None
    if oldest is not None:
        summary.oldest_ready_age_seconds = max(0.0, (clock.now() - oldest).total_seconds())
    _emit_metrics(summary)
    logger.info(
        "export run finished",
        extra={
            "run_id": run_id,
            "batches": summary.batches,
            "leased": summary.leased,
            "acknowledged": summary.acknowledged,
            "rejected": summary.rejected,
            "retried": summary.retried,
            "failed": summary.failed,
            "skipped": summary.skipped,
            "superseded": summary.superseded,
            "stopped_by_budget": summary.stopped_by_budget,
            "elapsed_seconds": round(summary.elapsed_seconds, 3),
        },
    )
    return summary


def _export_batch(
    leased: list[Queued],
    queue: ExportQueue,
    cipher: PersonalDataCipher,
    sender: BatchSender,
    journal: AuditJournal,
    clock: Clock,
    settings: ExportSettings,
    rand: Callable[[], float],
    summary: ExportSummary,
    run_id: str,
) -> None:
    now = clock.now()
    outcomes: dict[str, str] = {}
    outbound: list[Outbound] = []
    for item in leased:
        record = item.record
        kind = record.delivery.pending_message
        if item.blob is None or kind is None:
            # Erased by retention (or nothing to send): no message can be built; a dead letter.
            _transport_failed(item, "no personal data to send", now, settings, rand, outcomes)
            continue
        try:
            patient = cipher.decrypt(item.blob, finess=record.finess, record_id=record.id)
        except DomainError as exc:  # KMS down (retry) or an integrity failure (retries end in failed)
            _transport_failed(item, f"decrypt: {exc.title}", now, settings, rand, outcomes)
            continue
        outbound.append(Outbound(record=record, patient=patient, kind=kind))

    by_id = {item.record.id: item for item in leased}
    batch_id = ""
    error = ""
    if outbound:
        summary.batches += 1
        summary.sent += len(outbound)
        try:
            report = sender.send(outbound, now)
        except SendFailed as exc:
            error = str(exc) or "transport failure"
            not_before = None
            if exc.retry_after is not None:
                summary.stopped_by_receiver = True
                not_before = now + timedelta(seconds=exc.retry_after)
            for out in outbound:
                _transport_failed(by_id[out.record.id], error, now, settings, rand, outcomes, not_before)
        else:
            batch_id = report.batch_id
            for out in outbound:
                item = by_id[out.record.id]
                receipt = report.receipts.get(out.record.id)
                if receipt is None:
                    _transport_failed(
                        item, "no acknowledgement for the message", now, settings, rand, outcomes
                    )
                elif receipt.accepted:
                    delivery.acknowledge(
                        item.record,
                        now,
                        f"batch {batch_id} message {receipt.message_id} kind {out.kind.value}",
                    )
                    outcomes[item.record.id] = "acknowledged"
                else:
                    delivery.reject(item.record, receipt.reason or delivery.rejection_reason("AE", ""), now)
                    outcomes[item.record.id] = "rejected"

    summary.superseded += queue.settle(leased, now, outcomes)
    for outcome in outcomes.values():
        if outcome == "acknowledged":
            summary.acknowledged += 1
        elif outcome == "rejected":
            summary.rejected += 1
        elif outcome == "retry":
            summary.retried += 1
        elif outcome == "failed":
            summary.failed += 1
    logger.info(
        "export batch",
        extra={
            "run_id": run_id,
            "batch_id": batch_id,
            "records": len(leased),
            "error": error,
            "outcomes": {k: sum(v == k for v in outcomes.values()) for k in set(outcomes.values())},
        },
    )
    # Journal after recording: the pharmacy sees what left, per batch. If the journal is down the
    # run stops here (ServiceUnavailable propagates): no more decryption without a journal entry.
    by_pharmacy: dict[str, list[str]] = {}
    for item in leased:
        by_pharmacy.setdefault(item.record.finess, []).append(item.record.id)
    for finess, ids in sorted(by_pharmacy.items()):
        sent_ok = bool(batch_id) and any(outcomes.get(i) in ("acknowledged", "rejected") for i in ids)
        journal.append(
            AuditEvent(
                action="export",
                outcome="success" if sent_ok else "failed",
                actor=EXPORT_ACTOR,
                role=EXPORT_ROLE,
                finess=finess,
                record_ids=tuple(ids),
                request_id=batch_id or run_id,
                reason="" if sent_ok else (error or "not sent"),
            )
        )


def _transport_failed(
    item: Queued,
    error: str,
    now: datetime,
    settings: ExportSettings,
    rand: Callable[[], float],
    outcomes: dict[str, str],
    not_before: datetime | None = None,
) -> None:
    delivery.transport_failed(item.record, error, now, settings.backoff, rand, not_before)
    failed = item.record.delivery.state is DeliveryState.FAILED
    outcomes[item.record.id] = "failed" if failed else "retry"


def _emit_metrics(summary: ExportSummary) -> None:
    for name, value in (
        ("ExportSent", summary.sent),
        ("ExportAcknowledged", summary.acknowledged),
        ("ExportRejected", summary.rejected),
        ("ExportRetried", summary.retried),
        ("ExportFailed", summary.failed),  # dead letters: the alarm watches this
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(
        name="ExportOldestReadyAgeSeconds", unit=MetricUnit.Seconds, value=summary.oldest_ready_age_seconds
    )
