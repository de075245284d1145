"""A pharmacy's alerts (the journal's automatic review, chalicelib/domain/alerts.py) as its admins
read and acknowledge them.

Only that pharmacy's pharmacy_admin: a pharmacist or the platform_admin is a 403, another pharmacy's
admin the 404 of a pharmacy that does not exist, each refusal journaled. A list is journaled before it
leaves; an acknowledgement is one transaction with its event, and the first one stays: acknowledging
again answers the alert as it is, journaled too. Another pharmacy's alert id is a 404, journaled.
An alert about an admin is for another admin to acknowledge: whoever read the records must not be
the one who closes the alert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from chalicelib.domain.alerts import StoredAlert
from chalicelib.domain.commands import AcknowledgeAlert, ReadAlerts
from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.domain.model import Role
from chalicelib.domain.outcomes import AlertList
from chalicelib.ports import AlertInbox, AuditJournal, ChangedMeanwhile, Clock
from chalicelib.services.access import own_pharmacy, require_role
from chalicelib.services.call import Audit, Call

ALERT_READERS = frozenset({Role.PHARMACY_ADMIN})
READ_ALERTS = "read_alerts"
ACKNOWLEDGE_ALERT = "acknowledge_alert"


@dataclass(frozen=True)
class AlertsDeps:
    alerts: AlertInbox
    journal: AuditJournal
    clock: Clock


def admit(deps: AlertsDeps, call: Call, action: str, finess: str) -> str:
    """The pharmacy whose alerts the caller may reach: their own, named in the path. The role first
    (403), then the pharmacy (another's, or a path that names none, is a 404); each refusal
    journaled. A view runs it before it answers a malformed query (api/context.admitted_then_parsed)."""
    require_role(deps.journal, call, action, ALERT_READERS)
    own = own_pharmacy(deps.journal, call, action)
    if finess.upper() != own:
        call.audit(deps.journal).deny(action, "another pharmacy")
        raise NotFound("No such pharmacy.")
    return own


def list_alerts(deps: AlertsDeps, call: Call, command: ReadAlerts) -> AlertList:
    finess = admit(deps, call, READ_ALERTS, command.finess)
    found = deps.alerts.list_alerts(
        finess, include_acknowledged=command.include_acknowledged, limit=command.limit
    )
    scope = "all" if command.include_acknowledged else "unacknowledged"
    call.audit(deps.journal).record(READ_ALERTS, reason=f"{len(found)} {scope} alert(s)")
    return AlertList(finess, tuple(found))


def acknowledge_alert(deps: AlertsDeps, call: Call, command: AcknowledgeAlert) -> StoredAlert:
    finess = admit(deps, call, ACKNOWLEDGE_ALERT, command.finess)
    audit = call.audit(deps.journal)
    stored = _found(deps, audit, finess, command.alert_id)
    alert_id = stored.alert.alert_id
    if stored.acknowledged_at is None:
        now, by = deps.clock.now(), call.caller.username
        if stored.alert.subject.lower() == by.lower():
            audit.deny(ACKNOWLEDGE_ALERT, "own alert")
            raise Forbidden("An alert about you is for another of the pharmacy's admins to acknowledge.")
        change = deps.alerts.acknowledge_change(finess, alert_id, by=by, at=now)
        try:
            audit.record(ACKNOWLEDGE_ALERT, reason=alert_id, changes=[change])
            return replace(stored, acknowledged_by=by, acknowledged_at=now)
        except ChangedMeanwhile:  # another admin acknowledged it first: theirs stays
            stored = _found(deps, audit, finess, alert_id)
    audit.record(ACKNOWLEDGE_ALERT, reason=f"{alert_id}: acknowledged already")
    return stored


def _found(deps: AlertsDeps, audit: Audit, finess: str, alert_id: str) -> StoredAlert:
    stored = deps.alerts.alert(finess, alert_id)
    if stored is None:  # another pharmacy's, gone by TTL, or no alert id at all: never echoed
        audit.deny(ACKNOWLEDGE_ALERT, "not_found")
        raise NotFound("No such alert.")
    return stored
