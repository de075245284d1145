"""Alerts of the journal's automatic review: what a detector found in one pharmacy's journal.

An alert names identifiers only (the actor or source it is about, record ids), never a personal
value. Its id is derived from what it is about (pharmacy, detector, subject, window start), so that
the stream handler's retries, which read the same events again, raise it once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.audit_chain import RECORD_IDS_MAX, AuditEvent, format_time

# Each detector's name, as alerts, metrics and docs/journal.md name it.
DETECTORS = (
    "bulk_reads",  # one actor reads or exports far more distinct records than usual in an hour
    "search_burst",  # a burst of patient searches
    "erasure_burst",  # a burst of erasures
    "repeated_refusals",  # probes of other ids, expired or logged-out tokens
    "outside_hours",  # activity outside the pharmacy's declared hours
    "platform_decision",  # any platform decision touching the pharmacy
)
RAISED = "alert_raised"  # the event each raise appends to the pharmacy's chain
SYSTEM_ROLE = "system"  # the role the journal gives the review's own events
REVIEW_ACTOR_PREFIX = "review:"  # the review's own events' actors: never fed back to it


@dataclass(frozen=True)
class Alert:
    finess: str
    detector: str  # one of DETECTORS
    subject: str  # the actor (or source address) it is about; "" when none
    window_start: datetime
    window_end: datetime
    count: int  # what the detector counted in the window (distinct records, searches, refusals...)
    threshold: int  # the count above which it raises
    record_ids: tuple[str, ...] = ()  # the records concerned, at most RECORD_IDS_MAX

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError("unknown detector")
        if len(self.record_ids) > RECORD_IDS_MAX:
            raise ValueError("an alert names at most RECORD_IDS_MAX records")

    @property
    def alert_id(self) -> str:
        key = "\n".join((self.finess, self.detector, self.subject, format_time(self.window_start)))
        return "a-" + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the pharmacy's admins read it."""

    alert: Alert
    raised_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


def review_actor(detector: str) -> str:
    """Who the journal names as an alert's author: the review's detector, not a person."""
    return f"{REVIEW_ACTOR_PREFIX}{detector}"


def raised_event(alert: Alert) -> AuditEvent:
    """The `alert_raised` event of `alert`: identifiers only, its id as the reason."""
    return AuditEvent(
        action=RAISED,
        outcome="success",
        actor=review_actor(alert.detector),
        role=SYSTEM_ROLE,
        finess=alert.finess,
        record_ids=alert.record_ids,
        reason=alert.alert_id,
    )


# What `Alert.alert_id` gives: an id from a request's path that is not one names no alert (a 404),
# never a key DynamoDB would refuse.
ALERT_ID_PATTERN = "a-[0-9a-f]{24}"


def is_alert_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(ALERT_ID_PATTERN, value) is not None
