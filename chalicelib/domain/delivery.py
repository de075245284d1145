"""Delivery of a record to SI-DEP: the state machine, the retry schedule, the public view. Pure.

States (DeliveryState) and the contract status (RecordStatus) each one shows:

    pending ──result set──▶ ready ──leased by one export run──▶ leased ──ACK AA──▶ acknowledged
                              ▲  ◀──transport failure, attempts left──┘ │ ──ACK AE/AR──▶ rejected
                              │                                         └─attempts exhausted─▶ failed
                              └── redrive (operator) ◀── failed;  schedule_send ◀── rejected/acknowledged

    state          status shown        why
    pending        pending             no result yet
    ready          ready, or sent      `sent` once an attempt has been made: it may have reached SI-DEP
    leased         sent                handed to SI-DEP, no acknowledgement yet
    acknowledged   acknowledged        (cancelled for an acknowledged withdrawal)
    rejected       rejected            the reason is `last_error`; the pharmacy may correct and resend
    failed         sent                dead letter. The outcome is unknown (a timed-out attempt may have
                                       arrived) and the pharmacy cannot fix a transport outage; the
                                       delivery view says `failed`, operators re-drive, an alarm fires.
    cancelled      cancelled           cancelled before it was ever acknowledged: nothing to send

A record whose pending message is a withdrawal (W) shows `cancelled` throughout.

The journey (`Journey`, the delivery view's `state`): one vocabulary for the record and its
delivery. Each step refines exactly one contract status, so the two never disagree (a record
`sent` is never "ready" in its delivery: it is `sending`, `retrying` or a `dead_letter`):

    step           status       meaning
    pending        pending      no result yet
    queued         ready        a message waits for its first attempt (cancelled: a withdrawal)
    sending        sent         an attempt is in flight (leased by one export run)
    retrying       sent         the last attempt failed (`error_category`); waits for its backoff
    dead_letter    sent         every attempt failed; an operator re-drives it
    acknowledged   acknowledged SI-DEP holds this version
    rejected       rejected     SI-DEP refused it (`rejection`: code and category); correct it
    withdrawn      cancelled    SI-DEP acknowledged the withdrawal
    cancelled      cancelled    cancelled before anything was sent: nothing to send

A withdrawal on its way shows `queued`, `sending`, `retrying` or `dead_letter` under `cancelled`.

    pending ─result─▶ queued ─lease─▶ sending ─AA─▶ acknowledged ─new result─▶ queued (correction)
                        ▲               │ ├─AE/AR─▶ rejected ─corrected─▶ queued
                        │               │ └─no answer─▶ retrying ─backoff ends / retry─▶ sending
                        │               └─no answer, attempts spent─▶ dead_letter ─redrive─▶ queued
                        └───────────── withdrawal (W) ◀── cancel once sent; W acknowledged ─▶ withdrawn

"Already sent" (`already_sent`) is one fact: `first_sent_at`, set by the lease that first lets a
message leave (the same conditional write) and never cleared, whatever follows (a new result, a
withdrawal, a redrive, a rejection). It decides every rule that depends on what SI-DEP may hold:
a cancel is refused (withdraw instead), a patient's erasure leaves the record to SI-DEP, and an
acknowledgement landing on a record cancelled meanwhile queues a withdrawal.

A result changed after acknowledgement is sent as a correction (C); a cancellation after
acknowledgement as a withdrawal (W). A result set back to null after acknowledgement is a
withdrawal too (the acknowledged result no longer stands).

Retries: equal-jitter exponential backoff. After failed attempt n (1-based) the next attempt is
due after d·(1+u)/2 with d = min(cap, base·factor^(n-1)) and u in [0, 1) from an injected random
source: at least half the nominal delay (so retries spread out), at most all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.domain.model import (
    DeliveryEvent,
    DeliveryState,
    MessageKind,
    RecordStatus,
    ScreeningRecord,
)
from chalicelib.domain.serialization import iso_utc

# Kept per record (oldest dropped first), so that a record retried for days stays a small item.
HISTORY_LIMIT = 50
# A reason from SI-DEP is shown to the pharmacy; keep it bounded.
REASON_LIMIT = 500

Random = Callable[[], float]


@dataclass(frozen=True)
class BackoffPolicy:
    base_seconds: float = 30.0
    factor: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 8


def backoff_delay(failed_attempts: int, policy: BackoffPolicy, rand: Random) -> timedelta:
    """Delay before the next attempt after `failed_attempts` (>= 1) failed ones."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    nominal = min(policy.cap_seconds, policy.base_seconds * policy.factor ** (failed_attempts - 1))
    u = rand()
    if not 0.0 <= u < 1.0:
        raise ValueError("the random source must return a float in [0, 1)")
    return timedelta(seconds=nominal * (1.0 + u) / 2.0)


@dataclass(frozen=True)
class RetryDecision:
    state: DeliveryState  # READY (retry at next_attempt_at) or FAILED (dead letter)
    next_attempt_at: datetime | None


def after_transport_failure(
    attempts: int, now: datetime, policy: BackoffPolicy, rand: Random
) -> RetryDecision:
    """`attempts` counts the attempt that just failed."""
    if attempts >= policy.max_attempts:
        return RetryDecision(DeliveryState.FAILED, None)
    return RetryDecision(DeliveryState.READY, now + backoff_delay(attempts, policy, rand))


def already_sent(record: ScreeningRecord) -> bool:
    """Whether a message for this record may have reached SI-DEP: the one rule, everywhere."""
    return record.delivery.first_sent_at is not None


def owes_sidep(pending_message: MessageKind | None) -> bool:
    """Whether something is still owed to SI-DEP: a final, a correction or a withdrawal that SI-DEP
    has not acknowledged. The one rule, everywhere (the purge holds such a record's data).

    `pending_message` stays set while the message is ready, leased, a dead letter (FAILED) or
    rejected (REJECTED); only `acknowledge`, a cancel before anything was sent, or unscheduling
    clear it. The export queue entry is narrower (READY or LEASED: `has_message_to_send`)."""
    return pending_message is not None


def status_while_sending(kind: MessageKind | None) -> RecordStatus:
    """Status from the first attempt on (leased, retrying, failed)."""
    return RecordStatus.CANCELLED if kind is MessageKind.WITHDRAWAL else RecordStatus.SENT


def status_when_acknowledged(kind: MessageKind | None) -> RecordStatus:
    return RecordStatus.CANCELLED if kind is MessageKind.WITHDRAWAL else RecordStatus.ACKNOWLEDGED


def status_when_rejected(kind: MessageKind | None) -> RecordStatus:
    return RecordStatus.REJECTED


def bounded_reason(reason: str) -> str:
    return reason[:REASON_LIMIT]


# HL7 table 0357 (message error condition codes): the category shown for an ERR-3 code. SI-DEP's
# free text (ERR-8) is never kept: it may quote the patient's values.
ERROR_CATEGORIES: dict[str, str] = {
    "0": "message accepted",
    "100": "segment sequence error",
    "101": "required field missing",
    "102": "data type error",
    "103": "table value not found",
    "200": "unsupported message type",
    "201": "unsupported event code",
    "202": "unsupported processing id",
    "203": "unsupported version id",
    "204": "unknown key identifier",
    "205": "duplicate key identifier",
    "206": "application record locked",
    "207": "application internal error",
}
_ACK_CODES = frozenset({"AE", "AR"})


def rejection_reason(ack_code: str, error_code: str) -> str:
    """What is kept of a rejection, in clear: the acknowledgement code, the error code and its
    category, from our own table (nothing of SI-DEP's text)."""
    ack = ack_code if ack_code in _ACK_CODES else "AE"
    code = error_code if error_code in ERROR_CATEGORIES else ""
    category = ERROR_CATEGORIES.get(code, "unspecified")
    return f"{ack} {code or '-'} {category}"


def _event(record: ScreeningRecord, now: datetime, event: str, detail: str = "") -> None:
    record.delivery.history.append(DeliveryEvent(at=now, event=event, detail=detail))
    del record.delivery.history[:-HISTORY_LIMIT]


# ---------------------------------------------------------------------------------------------
# Transitions the records service applies (the lead calls these)


def schedule_send(record: ScreeningRecord, now: datetime) -> None:
    """The record's result was set or changed: queue a final message, or a correction if SI-DEP
    already acknowledged a version. A result set back to null goes back to pending if nothing was
    ever sent, else what SI-DEP may hold is withdrawn."""
    d = record.delivery
    if record.test.result is None:
        if already_sent(record):
            schedule_withdrawal(record, now)
            return
        d.state = DeliveryState.PENDING
        d.pending_message = None
        d.next_attempt_at = None
        d.attempts = 0
        d.last_error = None
        record.status = RecordStatus.PENDING
        _event(record, now, "unscheduled", "result removed")
        return
    kind = MessageKind.CORRECTION if d.acknowledged_version > 0 else MessageKind.FINAL
    d.state = DeliveryState.READY
    d.pending_message = kind
    d.next_attempt_at = now
    d.attempts = 0
    d.last_error = None
    record.status = RecordStatus.READY
    _event(record, now, "scheduled", kind.value)


def schedule_withdrawal(record: ScreeningRecord, now: datetime) -> None:
    """The record is withdrawn or cancelled. Once a message may have reached SI-DEP, SI-DEP must be
    told (OBX-11 W); before, there is nothing to withdraw. (The records service refuses to cancel
    an already sent record: it is withdrawn instead.)"""
    d = record.delivery
    record.status = RecordStatus.CANCELLED
    d.attempts = 0
    d.last_error = None
    if already_sent(record):
        d.state = DeliveryState.READY
        d.pending_message = MessageKind.WITHDRAWAL
        d.next_attempt_at = now
        _event(record, now, "scheduled", MessageKind.WITHDRAWAL.value)
    else:
        d.state = DeliveryState.CANCELLED
        d.pending_message = None
        d.next_attempt_at = None
        _event(record, now, "cancelled")


def cancel(record: ScreeningRecord, now: datetime) -> None:
    """Cancel a record nothing of which was ever sent (the records service checks `already_sent`)."""
    if already_sent(record):
        raise ValueError("an already sent record is withdrawn, not cancelled")
    d = record.delivery
    record.status = RecordStatus.CANCELLED
    d.state = DeliveryState.CANCELLED
    d.pending_message = None
    d.next_attempt_at = None
    _event(record, now, "cancelled")


def acknowledged_meanwhile(
    record: ScreeningRecord, version: int, kind: MessageKind, now: datetime
) -> tuple[bool, bool]:
    """SI-DEP acknowledged the `kind` message of version `version` of a record that changed while
    the message was in flight (`record` is the stored one, newer). Returns (whether the record
    must be written, whether as a new version):
    - SI-DEP holds `version`: what follows is a correction, not a second final;
    - if the record was cancelled or withdrawn meanwhile and no withdrawal is pending, SI-DEP now
      holds a result we no longer stand by: a withdrawal is queued (the caller bumps the version,
      so that it is a new message, not a duplicate of an earlier one)."""
    d = record.delivery
    changed = withdraw = False
    if d.acknowledged_version < version:
        d.acknowledged_version = version
        d.acknowledged_at = now
        if d.pending_message is MessageKind.FINAL:
            d.pending_message = MessageKind.CORRECTION
        _event(record, now, "acknowledged", f"version {version}")
        changed = True
    withdrawn = record.status is RecordStatus.CANCELLED
    if withdrawn and kind is not MessageKind.WITHDRAWAL and d.pending_message is not MessageKind.WITHDRAWAL:
        d.state = DeliveryState.READY
        d.pending_message = MessageKind.WITHDRAWAL
        d.next_attempt_at = now
        d.attempts = 0
        d.last_error = None
        _event(record, now, "scheduled", MessageKind.WITHDRAWAL.value)
        changed = withdraw = True
    return changed, withdraw


def has_message_to_send(record: ScreeningRecord) -> bool:
    """True iff the record belongs in the export queue (the sparse index)."""
    d = record.delivery
    return d.state in (DeliveryState.READY, DeliveryState.LEASED) and d.pending_message is not None


# ---------------------------------------------------------------------------------------------
# Transitions the exporter applies (the DynamoDB adapter writes the same values)


def lease(record: ScreeningRecord, now: datetime, until: datetime) -> None:
    """Also re-leases a record whose earlier lease expired (its run died): that only one live
    lease exists is the store's conditional write's job, not knowable here."""
    d = record.delivery
    if not has_message_to_send(record):
        raise ValueError("only a record with a message to send can be leased")
    d.state = DeliveryState.LEASED
    d.attempts += 1
    if d.first_sent_at is None:
        d.first_sent_at = now
    d.next_attempt_at = until  # due again only if this attempt never concludes
    record.status = status_while_sending(d.pending_message)


def acknowledge(record: ScreeningRecord, now: datetime, detail: str = "") -> None:
    d = record.delivery
    kind = d.pending_message
    d.state = DeliveryState.ACKNOWLEDGED
    d.acknowledged_version = record.version
    d.acknowledged_at = now
    d.next_attempt_at = None
    d.last_error = None
    d.pending_message = None
    record.status = status_when_acknowledged(kind)
    _event(record, now, "acknowledged", detail)


def reject(record: ScreeningRecord, reason: str, now: datetime) -> None:
    """`reason` is ours (`rejection_reason`), never SI-DEP's free text: that may quote patient values."""
    d = record.delivery
    d.state = DeliveryState.REJECTED
    d.last_error = bounded_reason(reason)
    d.next_attempt_at = None
    record.status = status_when_rejected(d.pending_message)
    _event(record, now, "rejected", d.last_error)


def transport_failed(
    record: ScreeningRecord,
    error: str,
    now: datetime,
    policy: BackoffPolicy,
    rand: Random,
    not_before: datetime | None = None,
) -> None:
    """`not_before`: the receiver asked us to wait until then (429/503 Retry-After)."""
    d = record.delivery
    decision = after_transport_failure(d.attempts, now, policy, rand)
    d.state = decision.state
    d.next_attempt_at = decision.next_attempt_at
    if d.next_attempt_at is not None and not_before is not None:
        d.next_attempt_at = max(d.next_attempt_at, not_before)
    d.last_error = bounded_reason(error)
    _event(record, now, "failed" if decision.state is DeliveryState.FAILED else "retry", d.last_error)


def redrive(record: ScreeningRecord, now: datetime) -> None:
    d = record.delivery
    if d.state is not DeliveryState.FAILED:
        raise ValueError("only a dead letter can be re-driven")
    d.state = DeliveryState.READY
    d.attempts = 0
    d.next_attempt_at = now
    _event(record, now, "redriven")


# ---------------------------------------------------------------------------------------------
# The journey: one vocabulary for a record's way to SI-DEP (the module's table)


class Journey(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    DEAD_LETTER = "dead_letter"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"


# The contract status each step refines (a withdrawal on its way shows `cancelled` instead).
JOURNEY_STATUS: dict[Journey, RecordStatus] = {
    Journey.PENDING: RecordStatus.PENDING,
    Journey.QUEUED: RecordStatus.READY,
    Journey.SENDING: RecordStatus.SENT,
    Journey.RETRYING: RecordStatus.SENT,
    Journey.DEAD_LETTER: RecordStatus.SENT,
    Journey.ACKNOWLEDGED: RecordStatus.ACKNOWLEDGED,
    Journey.REJECTED: RecordStatus.REJECTED,
    Journey.WITHDRAWN: RecordStatus.CANCELLED,
    Journey.CANCELLED: RecordStatus.CANCELLED,
}
_FAILING = frozenset({Journey.RETRYING, Journey.DEAD_LETTER})


def journey(record: ScreeningRecord) -> Journey:
    d = record.delivery
    if d.state is DeliveryState.READY:
        return Journey.RETRYING if d.attempts else Journey.QUEUED
    if d.state is DeliveryState.ACKNOWLEDGED and record.status is RecordStatus.CANCELLED:
        return Journey.WITHDRAWN
    return _STEP_OF_STATE[d.state]


_STEP_OF_STATE = {
    DeliveryState.PENDING: Journey.PENDING,
    DeliveryState.LEASED: Journey.SENDING,
    DeliveryState.ACKNOWLEDGED: Journey.ACKNOWLEDGED,
    DeliveryState.REJECTED: Journey.REJECTED,
    DeliveryState.FAILED: Journey.DEAD_LETTER,
    DeliveryState.CANCELLED: Journey.CANCELLED,
}


def status_agrees(record: ScreeningRecord) -> bool:
    """The record's status is the one its step refines (a withdrawal on its way: `cancelled`)."""
    step = journey(record)
    if record.delivery.pending_message is MessageKind.WITHDRAWAL and step in (
        Journey.QUEUED,
        *_FAILING,
        Journey.SENDING,
    ):
        return record.status is RecordStatus.CANCELLED
    return record.status is JOURNEY_STATUS[step]


class ErrorCategory(StrEnum):
    """Why the last attempt got no acknowledgement: what an operator acts on (`make status`)."""

    UNREACHABLE = "unreachable"  # connection refused or cut, or no answer in time
    TLS = "tls"  # the TLS handshake failed (certificates)
    SERVER_ERROR = "server_error"  # SI-DEP answered 5xx (other than 503)
    THROTTLED = "throttled"  # 429/503: SI-DEP asked us to wait (Retry-After)
    NO_ACKNOWLEDGEMENT = "no_acknowledgement"  # an answer without this message's acknowledgement
    UNSENDABLE = "unsendable"  # ours: no personal data left, decryption failed, credentials
    OTHER = "other"


def error_category(error: str | None) -> ErrorCategory:
    """The category of a failed attempt's `last_error` (the transport's own words, never a body)."""
    text = (error or "").lower()
    if text.startswith(("connection error", "timeout")):
        return ErrorCategory.UNREACHABLE
    if text.startswith("tls error"):
        return ErrorCategory.TLS
    if text in ("http 429", "http 503"):
        return ErrorCategory.THROTTLED
    if text.startswith("http 5"):
        return ErrorCategory.SERVER_ERROR
    if "acknowledgement" in text:  # none for the message, or an unreadable one
        return ErrorCategory.NO_ACKNOWLEDGEMENT
    if text.startswith(("no personal data", "decrypt", "credentials")):
        return ErrorCategory.UNSENDABLE
    return ErrorCategory.OTHER


def rejection_of(reason: str | None) -> dict[str, str]:
    """A stored rejection reason (`rejection_reason`'s "AE 207 application internal error") as the
    pharmacy sees it: the acknowledgement code, the error code and its category."""
    ack, code = [*(reason or "").split(" ", 2), "", ""][:2]
    return {
        "ack_code": ack if ack in _ACK_CODES else "AE",
        "code": code if code in ERROR_CATEGORIES else "",
        "category": ERROR_CATEGORIES.get(code, "unspecified"),
    }


# ---------------------------------------------------------------------------------------------
# What a delivery shows (the API renders it: chalicelib/payloads/responses.py DELIVERY)


def history_to_json(history: list[DeliveryEvent]) -> list[dict[str, str]]:
    return [{"at": iso_utc(e.at), "event": e.event, "detail": e.detail} for e in history]


def failure_category(record: ScreeningRecord) -> ErrorCategory | None:
    """Why the last attempt got no acknowledgement, while the record is retrying or a dead letter."""
    return error_category(record.delivery.last_error) if journey(record) in _FAILING else None


def rejection(record: ScreeningRecord) -> dict[str, str] | None:
    """Why SI-DEP rejected the record (codes only), while it stands rejected."""
    d = record.delivery
    return rejection_of(d.last_error) if d.state is DeliveryState.REJECTED else None
