"""The review's alerts in DynamoDB (the Alerts port, chalicelib/ports/alerts.py).

One item per alert in the alerts table, under its pharmacy (partition: FINESS) and its
deterministic id (chalicelib/domain/alerts.py), so a raise is idempotent by a condition on that key:
the review's stream handler reads a batch again after a failure and raises nothing twice. The item
and its `alert_raised` event on the pharmacy's chain are one transaction (`AuditJournal.append` with
the put as a `Change`): an alert never exists without its trace, nor its trace without it.

Reads go through two local indexes by raising time: every alert (`by_raised_at`), and the sparse
`open` one whose key (`open_since`) the first acknowledgement removes: the admins' default list and
the operator's status read only what is still open. Items leave by TTL after the journal's retention;
the detectors raise at most one alert per subject and window, so a pharmacy's items stay bounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamodb.errors import dynamodb_errors
from chalicelib.adapters.dynamodb.models import AlertModel
from chalicelib.domain.alerts import Alert, StoredAlert, is_alert_id, raised_event
from chalicelib.domain.audit_chain import format_time, parse_time
from chalicelib.observability import logger
from chalicelib.ports import AuditJournal, Change, ChangedMeanwhile


class _AlreadyRaised(Exception):
    """The alert's item exists: this raise is a replay."""


def _item(alert: Alert, at: datetime, retention_days: int) -> AlertModel:
    raised = format_time(at)
    return AlertModel(
        alert.finess,
        alert.alert_id,
        detector=alert.detector,
        subject=alert.subject or None,
        window_start=format_time(alert.window_start),
        window_end=format_time(alert.window_end),
        counted=alert.count,
        threshold=alert.threshold,
        record_ids=list(alert.record_ids),
        raised_at=raised,
        open_since=raised,
        expires_at=at + timedelta(days=retention_days),
    )


def stored_alert(item: AlertModel) -> StoredAlert:
    """The item as the domain value; ValueError (or TypeError) if a writer made it no alert."""
    acknowledged_at = item.acknowledged_at
    return StoredAlert(
        alert=Alert(
            finess=item.finess,
            detector=item.detector,
            subject=item.subject or "",
            window_start=parse_time(item.window_start),
            window_end=parse_time(item.window_end),
            count=int(item.counted),
            threshold=int(item.threshold),
            record_ids=tuple(str(r) for r in item.record_ids or ()),
        ),
        raised_at=parse_time(item.raised_at),
        acknowledged_by=item.acknowledged_by,
        acknowledged_at=parse_time(acknowledged_at) if acknowledged_at else None,
    )


def _readable(items: Any) -> list[StoredAlert]:
    """The alerts among `items`: one a writer made unreadable is left out and logged (by its key),
    never a 500 for the whole list."""
    found = []
    for item in items:
        try:
            found.append(stored_alert(item))
        except (ValueError, TypeError, AttributeError):
            logger.warning(
                "an alert item is unreadable", extra={"finess": item.finess, "alert": item.alert_id}
            )
    return found


class DynamoDbAlerts:
    """The Alerts port over AlertModel (tables bound by bind_models), raising through `journal`."""

    def __init__(self, journal: AuditJournal, *, retention_days: int) -> None:
        self._journal = journal
        self._retention_days = retention_days

    def raise_alert(self, alert: Alert, *, at: datetime) -> bool:
        item = _item(alert, at, self._retention_days)
        change = Change(
            write=lambda t: t.save(item, condition=AlertModel.alert_id.does_not_exist()),
            conflict=lambda _failed: _AlreadyRaised(),
        )
        try:
            self._journal.append(raised_event(alert), [change])
        except _AlreadyRaised:
            return False
        return True

    def list_alerts(self, finess: str, *, include_acknowledged: bool, limit: int) -> list[StoredAlert]:
        if limit < 1:
            return []
        index = AlertModel.by_raised_at if include_acknowledged else AlertModel.open_alerts
        with dynamodb_errors():
            items = list(index.query(finess, scan_index_forward=False, limit=limit))
        return _readable(items[:limit])

    def alert(self, finess: str, alert_id: str) -> StoredAlert | None:
        """The pharmacy's alert of that id (consistent read), or None: another pharmacy's id, or
        anything that is no alert id, is none of its alerts."""
        if not is_alert_id(alert_id):
            return None
        with dynamodb_errors():
            try:
                item = AlertModel.get(finess, alert_id, consistent_read=True)
            except AlertModel.DoesNotExist:
                return None
        found = _readable([item])
        return found[0] if found else None

    def acknowledge_change(self, finess: str, alert_id: str, *, by: str, at: datetime) -> Change:
        """The first acknowledgement, made in the journal's transaction with its event; its
        condition (the alert exists, nobody acknowledged it) failing is ChangedMeanwhile."""
        item, actions, condition = self._acknowledgement(finess, alert_id, by, at)
        return Change(
            write=lambda t: t.update(item, actions=actions, condition=condition),
            conflict=lambda _failed: ChangedMeanwhile(),
        )

    @staticmethod
    def _acknowledgement(finess: str, alert_id: str, by: str, at: datetime) -> tuple[AlertModel, Any, Any]:
        actions = [
            AlertModel.acknowledged_at.set(format_time(at)),
            AlertModel.acknowledged_by.set(by),
            AlertModel.open_since.remove(),  # out of the open index: the first acknowledgement stays
        ]
        condition = AlertModel.alert_id.exists() & AlertModel.acknowledged_at.does_not_exist()
        return AlertModel(finess, alert_id), actions, condition
