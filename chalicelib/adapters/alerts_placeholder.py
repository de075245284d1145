"""PLACEHOLDER until the alert store lands (its adapter, the alerts table and the alerts API are
built apart): the review's alerts written as their `alert_raised` event on the pharmacy's chain
only, as chalicelib/ports/alerts.py says the store appends it, but kept nowhere else. Replays are
bounded by the review's own state (its last seq per chain), not by the alert's id as the real
store's are; `list_alerts` finds nothing. bootstrap.build_alerts is the one place to swap it."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.alerts import Alert, StoredAlert
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.ports import AuditJournal


class JournalOnlyAlerts:
    def __init__(self, journal: AuditJournal) -> None:
        self._journal = journal

    def raise_alert(self, alert: Alert, *, at: datetime) -> bool:
        self._journal.append(
            AuditEvent(
                action="alert_raised",
                outcome="success",
                actor=f"review:{alert.detector}",
                role="system",
                finess=alert.finess,
                record_ids=alert.record_ids,
                reason=alert.alert_id,
            )
        )
        return True

    def list_alerts(self, finess: str, *, include_acknowledged: bool, limit: int) -> list[StoredAlert]:
        return []

    def acknowledge(self, finess: str, alert_id: str, *, by: str, at: datetime) -> StoredAlert | None:
        return None
