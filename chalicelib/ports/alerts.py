"""The review's alerts: raised by the journal's automatic review, read and acknowledged by a
pharmacy's admins (chalicelib/domain/alerts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from chalicelib.domain.alerts import Alert, StoredAlert
from chalicelib.ports.changes import Change


class Alerts(Protocol):
    def raise_alert(self, alert: Alert, *, at: datetime) -> bool:
        """Store the alert and append its `alert_raised` event to the pharmacy's chain, atomically;
        False (and nothing written) if an alert with this id exists: a replayed stream batch raises
        nothing twice. Raises ServiceUnavailable if it cannot."""
        ...

    def list_alerts(self, finess: str, *, include_acknowledged: bool, limit: int) -> list[StoredAlert]:
        """The pharmacy's alerts, newest first."""
        ...


class AlertInbox(Alerts, Protocol):
    """What the pharmacy's admins' routes need besides the raise: one alert by id, and the first
    acknowledgement as a change of the journal's transaction (with its event, or neither)."""

    def alert(self, finess: str, alert_id: str) -> StoredAlert | None:
        """The pharmacy's alert of that id; None for another pharmacy's or none."""
        ...

    def acknowledge_change(self, finess: str, alert_id: str, *, by: str, at: datetime) -> Change:
        """Acknowledge it if nobody has; its condition failing is ChangedMeanwhile."""
        ...
