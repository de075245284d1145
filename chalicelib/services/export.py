"""The SI-DEP export: send every record with a message waiting, within a time budget.

One run: stream the due records from the queue (oldest first, page by page: memory does not
grow with the backlog), take them `batch_size` at a time, lease each with a conditional write
(a record leased by another run is skipped), decrypt the patients, hand the batch to the sender,
record each record's outcome (acknowledged / rejected / retry with backoff / dead letter) with a
conditional write, and journal one `export` audit event per pharmacy of the batch. The run stops
taking batches when the time left is less than one batch may need.

The format and the transport are behind `BatchSender`; the queue behind `ExportQueue` (both
ports, in chalicelib/ports/export.py with the others).

Crash safety: a lease expires. A run that dies between sending and recording leaves records
leased; once the lease expires they are due again and are resent with the same message control
ids, which the receiver recognises as duplicates (and acknowledges again).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.config import Settings
from chalicelib.domain import delivery
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.errors import DomainError, IntegrityError
from chalicelib.domain.model import DeliveryState
from chalicelib.observability import logger, metrics
from chalicelib.ports import (
    AuditJournal,
    BatchSender,
    Clock,
    ExportQueue,
    ExportQueues,
    Outbound,
    PersonalDataCipher,
    Queued,
    Receipt,
    SendFailed,
)

EXPORT_ACTOR = "sidep-exporter"
# A batch whose answer names none of its messages (delivery.error_category: no_acknowledgement).
NO_ACKNOWLEDGEMENT = "no acknowledgement for the batch's messages"
EXPORT_ROLE = "system"


# ---------------------------------------------------------------------------------------------
# Settings and summary


@dataclass(frozen=True)
class ExportSettings:
    time_budget_seconds: float = float(Settings.export_time_budget_seconds)
    batch_size: int = Settings.sidep_batch_size
    # A lease outlives one batch's send + marks, with margin; then a crashed run's records are due again.
    lease_seconds: float = 120.0
    # The longest one batch may take (transport timeouts + writes): no batch starts with less left.
    batch_reserve_seconds: float = 30.0
    backoff: delivery.BackoffPolicy = field(default_factory=delivery.BackoffPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, *, time_budget_seconds: float | None = None) -> ExportSettings:
        transport = float(settings.sidep_connect_timeout_seconds + settings.sidep_timeout_seconds)
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
    # What an operator reads first (`make status`): did SI-DEP answer, and if not, why.
    batches_failed: int = 0  # batches that got no readable answer
    last_error: str = ""  # the last such batch's failure (the transport's words, never a body)
    retry_after_seconds: float = 0.0  # the longest wait SI-DEP asked for (429/503)
    last_answered_batch: str = ""  # the last batch SI-DEP answered (acknowledged or rejected)
    oldest_ready_age_seconds: float = 0.0
    elapsed_seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# The use case


@dataclass
class Batch:
    """One batch's records on their way: the leased items, what each ended as (acknowledged,
    rejected, retry, failed), and the batch id SI-DEP answered under (or the error it did not)."""

    leased: list[Queued]
    now: datetime
    outcomes: dict[str, str] = field(default_factory=dict)
    batch_id: str = ""
    error: str = ""
    by_id: dict[str, Queued] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {item.record.id: item for item in self.leased}

    def item(self, record_id: str) -> Queued:
        return self.by_id[record_id]

    def count(self, outcome: str) -> int:
        return sum(value == outcome for value in self.outcomes.values())

    def sent_ok(self, ids: Sequence[str]) -> bool:
        return bool(self.batch_id) and any(self.outcomes.get(i) in ("acknowledged", "rejected") for i in ids)


@dataclass
class ExportRun:
    """One export run: its collaborators, its settings and what it did so far (`summary`).

    `run()` streams the due records (or `changed`: the trigger's run, over the records a stream
    batch named, their new images, rather than the queue's due range; the lease's condition still
    decides which of them go), a batch at a time, until the budget or the receiver stops it."""

    queue: ExportQueue
    cipher: PersonalDataCipher
    sender: BatchSender
    journal: AuditJournal
    clock: Clock
    settings: ExportSettings
    rand: Callable[[], float] = random.random
    monotonic: Callable[[], float] = time.monotonic
    run_id: str = field(default_factory=lambda: f"export-{uuid.uuid4().hex[:12]}")
    summary: ExportSummary = field(default_factory=ExportSummary, init=False)

    def run(self, changed: Iterable[Queued] | None = None) -> ExportSummary:
        """The run. Returns what it did; emits the export metrics."""
        started = self.monotonic()
        deadline = started + self.settings.time_budget_seconds - self.settings.batch_reserve_seconds
        start_now = self.clock.now()
        candidates = iter(changed) if changed is not None else self.queue.due(start_now)
        while not self._stopped(deadline):
            leased = self._lease_batch(candidates)
            if not leased:
                break
            self.summary.leased += len(leased)
            self._export(Batch(leased, self.clock.now()))
        self.summary.elapsed_seconds = self.monotonic() - started
        if (
            changed is None
        ):  # the sweeper's gauge (8 queries): a trigger run, over a few records, does not pay
            self._measure_oldest()
        _emit_metrics(self.summary)
        self._log_run()
        return self.summary

    # --- the run's loop ---------------------------------------------------------------------

    def _stopped(self, deadline: float) -> bool:
        if self.monotonic() >= deadline:
            self.summary.stopped_by_budget = True
            return True
        return self.summary.stopped_by_receiver

    def _lease_batch(self, candidates: Iterator[Queued]) -> list[Queued]:
        """A batch's worth of leased records: the ones another run holds are skipped, and more are
        read until the batch is full or nothing is left."""
        now = self.clock.now()
        until = now + timedelta(seconds=self.settings.lease_seconds)
        leased: list[Queued] = []
        while len(leased) < self.settings.batch_size:
            pending = list(islice(candidates, self.settings.batch_size - len(leased)))
            if not pending:
                break
            got = self.queue.lease(pending, now, until)
            self.summary.skipped += len(pending) - len(got)
            leased.extend(got)
        return leased

    def _measure_oldest(self) -> None:
        oldest = self.queue.oldest_due(self.clock.now())
        if oldest is not None:
            self.summary.oldest_ready_age_seconds = max(0.0, (self.clock.now() - oldest).total_seconds())

    # --- one batch --------------------------------------------------------------------------

    def _export(self, batch: Batch) -> None:
        outbound = self._outbound(batch)
        if outbound:
            self._send(batch, outbound)
        self._settle(batch)
        # Journal after recording: the pharmacy sees what left, per batch. If the journal is down
        # the run stops here (ServiceUnavailable propagates): no more decryption without an entry.
        self._journal(batch)

    def _outbound(self, batch: Batch) -> list[Outbound]:
        """The batch's messages, decrypted; a record that cannot be sent fails its attempt."""
        outbound: list[Outbound] = []
        for item in batch.leased:
            record = item.record
            kind = record.delivery.pending_message
            if item.blob is None or kind is None:
                # Erased by retention (or nothing to send): no message can be built; a dead letter.
                self._failed(batch, item, "no personal data to send")
                continue
            try:
                patient = self.cipher.decrypt(item.blob, finess=record.finess, record_id=record.id)
            except DomainError as exc:  # KMS down (retry) or an integrity failure (retries end in failed)
                failure = (
                    "Integrity check failed" if isinstance(exc, IntegrityError) else "Service unavailable"
                )
                self._failed(batch, item, f"decrypt: {failure}")
                continue
            outbound.append(Outbound(record=record, patient=patient, kind=kind))
        return outbound

    def _send(self, batch: Batch, outbound: list[Outbound]) -> None:
        self.summary.batches += 1
        self.summary.sent += len(outbound)
        try:
            report = self.sender.send(outbound, batch.now)
        except SendFailed as exc:
            batch.error = str(exc) or "transport failure"
            self.summary.batches_failed += 1
            self.summary.last_error = batch.error
            not_before = None
            if exc.retry_after is not None:
                self.summary.stopped_by_receiver = True
                self.summary.retry_after_seconds = max(self.summary.retry_after_seconds, exc.retry_after)
                not_before = batch.now + timedelta(seconds=exc.retry_after)
            for out in outbound:
                self._failed(batch, batch.item(out.record.id), batch.error, not_before)
            return
        batch.batch_id = report.batch_id
        if any(out.record.id in report.receipts for out in outbound):
            self.summary.last_answered_batch = report.batch_id
        else:  # an answer acknowledging none of its messages is no answer to this batch
            batch.error = NO_ACKNOWLEDGEMENT
            self.summary.batches_failed += 1
            self.summary.last_error = batch.error
        for out in outbound:
            self._receipt(batch, out, report.receipts.get(out.record.id))

    def _receipt(self, batch: Batch, out: Outbound, receipt: Receipt | None) -> None:
        item = batch.item(out.record.id)
        if receipt is None:
            self._failed(batch, item, "no acknowledgement for the message")
        elif receipt.accepted:
            detail = f"batch {batch.batch_id} message {receipt.message_id} kind {out.kind.value}"
            delivery.acknowledge(item.record, batch.now, detail)
            batch.outcomes[item.record.id] = "acknowledged"
        else:
            delivery.reject(item.record, receipt.reason or delivery.rejection_reason("AE", ""), batch.now)
            batch.outcomes[item.record.id] = "rejected"

    def _failed(self, batch: Batch, item: Queued, error: str, not_before: datetime | None = None) -> None:
        """The attempt failed: retried after the backoff, or a dead letter once they are spent."""
        delivery.transport_failed(item.record, error, batch.now, self.settings.backoff, self.rand, not_before)
        failed = item.record.delivery.state is DeliveryState.FAILED
        batch.outcomes[item.record.id] = "failed" if failed else "retry"

    def _settle(self, batch: Batch) -> None:
        self.summary.superseded += self.queue.settle(batch.leased, batch.now, batch.outcomes)
        self.summary.acknowledged += batch.count("acknowledged")
        self.summary.rejected += batch.count("rejected")
        self.summary.retried += batch.count("retry")
        self.summary.failed += batch.count("failed")
        logger.info(
            "export batch",
            extra={
                "run_id": self.run_id,
                "batch_id": batch.batch_id,
                "records": len(batch.leased),
                "error": batch.error,
                "outcomes": {k: batch.count(k) for k in set(batch.outcomes.values())},
            },
        )

    def _journal(self, batch: Batch) -> None:
        """One `export` event per pharmacy of the batch."""
        by_pharmacy: dict[str, list[str]] = {}
        for item in batch.leased:
            by_pharmacy.setdefault(item.record.finess, []).append(item.record.id)
        for finess, ids in sorted(by_pharmacy.items()):
            sent_ok = batch.sent_ok(ids)
            self.journal.append(
                AuditEvent(
                    action="export",
                    outcome="success" if sent_ok else "failed",
                    actor=EXPORT_ACTOR,
                    role=EXPORT_ROLE,
                    finess=finess,
                    record_ids=tuple(ids),
                    request_id=batch.batch_id or self.run_id,
                    reason="" if sent_ok else (batch.error or "not sent"),
                )
            )

    def _log_run(self) -> None:
        s = self.summary
        logger.info(
            "export run finished",
            extra={
                "run_id": self.run_id,
                "batches": s.batches,
                "leased": s.leased,
                "acknowledged": s.acknowledged,
                "rejected": s.rejected,
                "retried": s.retried,
                "failed": s.failed,
                "skipped": s.skipped,
                "superseded": s.superseded,
                "stopped_by_budget": s.stopped_by_budget,
                "elapsed_seconds": round(s.elapsed_seconds, 3),
            },
        )


@dataclass(kw_only=True, eq=False, repr=False)  # identity, as any service object
class Exporter:
    """The process's exporter: what every run shares (the SI-DEP sender, the cipher, the journal, the
    clock, the settings), built once per container so that a warm Lambda keeps its SI-DEP
    connection and certificate files; `run` is one export run (the sweeper's, a fan-out shard's,
    or the trigger's over a stream batch)."""

    queues: ExportQueues
    cipher: PersonalDataCipher
    sender: BatchSender
    journal: AuditJournal
    clock: Clock
    settings: ExportSettings
    # Raises when the sender cannot send (its certificate missing or broken): checked before
    # any lease, so such a run costs no record an attempt and fails its invocation (an alarm).
    sender_ready: Callable[[], object] = lambda: None

    def run(
        self,
        time_budget_seconds: float | None = None,
        *,
        shards: Sequence[str] | None = None,
        changed: Sequence[dict[str, Any]] | None = None,
    ) -> ExportSummary:
        """One run within `time_budget_seconds` (None: the settings' budget). `shards` restricts
        it to some export-queue shards (the fan-out); `changed` runs it over a stream batch's new
        images (the trigger) instead of the due range."""
        run_id = f"export-{uuid.uuid4().hex[:12]}"
        queue = self.queues(run_id, shards)
        ready = queue.ready_in(changed, self.clock.now()) if changed is not None else None
        if ready == []:
            return ExportSummary()  # nothing in this stream batch is due: no round trip
        self.sender_ready()
        settings = self.settings
        if time_budget_seconds is not None:
            settings = replace(settings, time_budget_seconds=float(time_budget_seconds))
        return ExportRun(
            queue=queue,
            cipher=self.cipher,
            sender=self.sender,
            journal=self.journal,
            clock=self.clock,
            settings=settings,
            run_id=run_id,
        ).run(ready)


def _emit_metrics(summary: ExportSummary) -> None:
    for name, value in (
        ("ExportSent", summary.sent),
        ("ExportAcknowledged", summary.acknowledged),
        ("ExportRejected", summary.rejected),
        ("ExportRetried", summary.retried),
        ("ExportFailed", summary.failed),  # dead letters: the alarm watches this
        ("ExportBatchesFailed", summary.batches_failed),  # SI-DEP not answering: an alarm past 5 min
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(
        name="ExportOldestReadyAgeSeconds", unit=MetricUnit.Seconds, value=summary.oldest_ready_age_seconds
    )
