"""The daily purge: erase what the retention policy says is due, warn about what SI-DEP never got.

One run reads the `erase_day` partitions from `lookback_days` ago to tomorrow (UTC days; days whose
run was missed are caught up), recomputes each record's due day from its facts and its pharmacy's
today (a stale index entry never erases early), and erases the due ones (blob, blind index entry)
with a conditional write. Records held by a live export lease, or changed since read, are left for
the next run. A record still owed a message to SI-DEP (a correction or withdrawal ready, leased, a
dead letter or rejected) is not erased on its after-ack day: it is held, its erase_day moved to its
hard cap, where the alarm sees it `alarm_days` ahead and the cap (the legal bound) erases it
regardless.

Audit: one `erase` event per erased record (actor `system:purge`, role `system`, reason
`after_ack` or `hard_cap`, on the record's pharmacy chain), written in the same transaction as the
erasure: no erasure is ever missing from the journal, and no event names an erasure that did not
happen. If the journal cannot take it, the run stops with nothing erased for that record; if the
record changed meanwhile, neither is written and the next run retries.

The dry run reads the same and reports the same, and writes nothing (no record, no journal event,
no metric).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.config import Settings
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.retention import (
    ALARM_METRIC,
    PURGE_ACTOR,
    PURGE_ROLE,
    EraseReason,
    RetentionFacts,
    RetentionPolicy,
    alarm_days,
    due_reason,
    held_until,
    is_leased,
    near_cap_unacknowledged,
    pharmacy_today,
    purge_days,
    utc_day,
)
from chalicelib.domain.serialization import iso_utc
from chalicelib.observability import logger, metrics
from chalicelib.ports import AuditJournal, ChangedMeanwhile, RetentionStore


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        after_ack_days=settings.retention_after_ack_days,
        hard_cap_days=settings.retention_hard_cap_days,
        ttl_grace_days=settings.retention_ttl_grace_days,
        skeleton_days=settings.skeleton_retention_days,
        alarm_days=settings.retention_alarm_days,
        lookback_days=settings.retention_purge_lookback_days,
    )


@dataclass(frozen=True)
class PurgeDeps:
    store: RetentionStore
    journal: AuditJournal
    policy: RetentionPolicy


@dataclass
class PurgeReport:
    now: str
    dry_run: bool
    run_id: str
    days_read: list[str] = field(default_factory=list)
    # erased (or, in a dry run, that would be erased), by reason
    erased: dict[str, list[str]] = field(
        default_factory=lambda: {EraseReason.AFTER_ACK.value: [], EraseReason.HARD_CAP.value: []}
    )
    skipped_leased: list[str] = field(default_factory=list)  # an export run holds it: next run
    skipped_changed: list[str] = field(default_factory=list)  # changed while read: next run
    # still owed a message to SI-DEP past the after-ack day: moved to the hard cap's partition
    held_owed: list[str] = field(default_factory=list)
    # never acknowledged by SI-DEP, or still owed a message, and erased within RETENTION_ALARM_DAYS
    # (or today): the alarm
    unacknowledged_near_cap: list[str] = field(default_factory=list)
    stopped_by_budget: bool = False

    @property
    def erased_count(self) -> int:
        return sum(len(ids) for ids in self.erased.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "days_read": {"from": self.days_read[0], "to": self.days_read[-1]} if self.days_read else None,
            "counts": {
                "erased": self.erased_count,
                **{reason: len(ids) for reason, ids in self.erased.items()},
                "skipped_leased": len(self.skipped_leased),
                "skipped_changed": len(self.skipped_changed),
                "held_owed": len(self.held_owed),
                "unacknowledged_near_cap": len(self.unacknowledged_near_cap),
            },
            "erased": {reason: sorted(ids) for reason, ids in self.erased.items()},
            "skipped_leased": sorted(self.skipped_leased),
            "skipped_changed": sorted(self.skipped_changed),
            "held_owed": sorted(self.held_owed),
            "unacknowledged_near_cap": sorted(self.unacknowledged_near_cap),
            "stopped_by_budget": self.stopped_by_budget,
        }


def _event(facts: RetentionFacts, reason: EraseReason, run_id: str, outcome: str) -> AuditEvent:
    return AuditEvent(
        action="erase",
        outcome=outcome,
        actor=PURGE_ACTOR,
        role=PURGE_ROLE,
        finess=facts.finess,
        record_ids=(facts.record_id,),
        request_id=run_id,
        reason=reason.value,
    )


def purge(
    deps: PurgeDeps,
    now: datetime,
    *,
    dry_run: bool = False,
    time_left: Callable[[], float] | None = None,
    reserve_seconds: float = 10.0,
    run_id: str | None = None,
) -> PurgeReport:
    """One purge run as of `now`. `time_left` (seconds) stops it early; the next run goes on."""
    run_id = run_id or f"purge-{uuid.uuid4().hex[:12]}"
    report = PurgeReport(now=iso_utc(now), dry_run=dry_run, run_id=run_id)
    today = utc_day(now)
    # the alarm first: it matters most when the erasure itself is about to happen
    for day in alarm_days(today, deps.policy):
        for facts in deps.store.on_erase_day(day):
            if near_cap_unacknowledged(facts, pharmacy_today(facts, now), deps.policy):
                report.unacknowledged_near_cap.append(facts.record_id)
    for day in purge_days(today, deps.policy):
        if time_left is not None and time_left() < reserve_seconds:
            report.stopped_by_budget = True
            break
        report.days_read.append(day.isoformat())
        for facts in deps.store.on_erase_day(day):
            _purge_one(deps, report, facts, now)
    _observe(report)
    return report


def _purge_one(deps: PurgeDeps, report: PurgeReport, facts: RetentionFacts, now: datetime) -> None:
    """Erase, hold or skip one record read on an erase day (a dry run writes nothing), into `report`."""
    policy = deps.policy
    local_today = pharmacy_today(facts, now)
    reason = due_reason(facts, local_today, policy)
    if reason is None:
        hold = held_until(facts, local_today, policy)
        if hold is not None:
            if report.dry_run or deps.store.hold_until(facts, hold):
                report.held_owed.append(facts.record_id)
            else:
                report.skipped_changed.append(facts.record_id)
        return
    if is_leased(facts, now):
        report.skipped_leased.append(facts.record_id)
        return
    if not report.dry_run:
        erasure = deps.store.erase_expired_change(facts, now=now, policy=policy)
        try:  # the erasure and its event are one write
            deps.journal.append(_event(facts, reason, report.run_id, "success"), [erasure])
        except ChangedMeanwhile:
            report.skipped_changed.append(facts.record_id)
            return
    report.erased[reason.value].append(facts.record_id)


def _observe(report: PurgeReport) -> None:
    if report.unacknowledged_near_cap:
        logger.warning(
            "records SI-DEP never acknowledged, or still owed a message, are near their retention hard cap",
            extra={"record_ids": sorted(report.unacknowledged_near_cap), "run_id": report.run_id},
        )
    logger.info(
        "purge run finished",
        extra={"run_id": report.run_id, "dry_run": report.dry_run, **report.to_json()["counts"]},
    )
    if report.dry_run:
        return
    metrics.add_metric(name=ALARM_METRIC, unit=MetricUnit.Count, value=len(report.unacknowledged_near_cap))
    metrics.add_metric(name="RetentionErased", unit=MetricUnit.Count, value=report.erased_count)


def monotonic_budget(seconds: float, clock: Callable[[], float] = time.monotonic) -> Callable[[], float]:
    """A `time_left` for `purge`: seconds left of a budget started now."""
    deadline = clock() + seconds
    return lambda: deadline - clock()
