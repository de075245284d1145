"""The retention policy: when a record's personal data must be gone, and when to warn first. Pure.

A pharmacy keeps a patient's identity only until SI-DEP (the long-term holder) has it, plus a
short time in which a correction may still be needed:

    erase_day = min(created day + hard_cap_days, acknowledged day + after_ack_days)

in the pharmacy's days (its time zone, chalicelib/domain/pharmacy_day.py; UTC when none is given).
The daily purge reads the erase days up to tomorrow in UTC and erases what is due on the pharmacy's
own today, so a pharmacy far east or west of UTC is erased at most one run after its day begins.
On erase_day (and any day after) the purge erases the encrypted personal blob and
the blind index entry; what stays is a skeleton without personal value (pharmacy, day, kind,
result, status and delivery state) until `skeleton_days` after creation. DynamoDB TTL deletes the
whole item at created + hard_cap_days + ttl_grace_days if the purge never ran (the backstop).

A record still owed a message by SI-DEP (`delivery.owes_sidep`: a correction or withdrawal that is
ready, leased, a dead letter or rejected) is never erased on its after-ack day: the purge holds it
and moves its erase_day to the hard cap, where it waits for the acknowledgement (which brings the
day forward again) or the cap, the legal bound, which erases it all the same.

A record never acknowledged by SI-DEP (and not cancelled: then nothing was to be sent), or still
owed a message, whose hard cap is at most `alarm_days` away raises the
`RetentionUnacknowledgedNearCap` alarm: its data is about to be erased before SI-DEP has it all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from chalicelib.domain.model import DeliveryState
from chalicelib.domain.pharmacy_day import local_day

ALARM_METRIC = "RetentionUnacknowledgedNearCap"
PURGE_ACTOR = "system:purge"
PURGE_ROLE = "system"


class EraseReason(StrEnum):
    AFTER_ACK = "after_ack"  # acknowledged by SI-DEP `after_ack_days` ago
    HARD_CAP = "hard_cap"  # `hard_cap_days` after creation, whatever the state
    PATIENT_REQUEST = "patient_request"  # the patient asked, through the pharmacy, before sending


class RetentionConfigError(ValueError):
    """The configured days contradict each other."""


@dataclass(frozen=True)
class RetentionPolicy:
    after_ack_days: int = 30
    hard_cap_days: int = 90
    ttl_grace_days: int = 7
    skeleton_days: int = 365
    alarm_days: int = 7
    lookback_days: int = 30

    def __post_init__(self) -> None:
        if self.after_ack_days < 0 or self.hard_cap_days < 1:
            raise RetentionConfigError("retention days must be positive")
        if self.ttl_grace_days < 1:
            raise RetentionConfigError("the TTL backstop needs a grace of at least one day after the cap")
        if self.skeleton_days <= self.hard_cap_days + self.ttl_grace_days:
            raise RetentionConfigError("skeletons must outlive the hard cap and its grace")
        if self.alarm_days < 0 or self.lookback_days < 0:
            raise RetentionConfigError("alarm and lookback days must not be negative")


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def erase_day(
    created_at: datetime, acknowledged_at: datetime | None, policy: RetentionPolicy, time_zone: str = "UTC"
) -> date:
    """The day (in the pharmacy's zone) from which the record's personal data is erased."""
    cap = hard_cap_day(created_at, policy, time_zone)
    if acknowledged_at is None:
        return cap
    return min(cap, local_day(acknowledged_at, time_zone) + timedelta(days=policy.after_ack_days))


def backstop_expiry(created_at: datetime, policy: RetentionPolicy) -> datetime:
    """The item's TTL while it still holds personal data: the hard cap plus a grace, so that DynamoDB
    deletes everything if the purge did not run, without racing the purge on the cap day."""
    return day_start(utc_day(created_at) + timedelta(days=policy.hard_cap_days + policy.ttl_grace_days))


def skeleton_expiry(created_at: datetime, policy: RetentionPolicy) -> datetime:
    """The item's TTL once only the skeleton is left."""
    return day_start(utc_day(created_at) + timedelta(days=policy.skeleton_days))


@dataclass(frozen=True)
class RetentionFacts:
    """What the purge reads of a record (never its personal part)."""

    finess: str
    record_id: str
    version: int
    created_at: datetime
    sampled_at: datetime
    acknowledged_at: datetime | None
    delivery_state: DeliveryState
    erase_day: date | None  # None: already erased
    lease_expires_at: datetime | None = None
    already_sent: bool = False  # a message may have reached SI-DEP (delivery.already_sent)
    message_pending: bool = False  # something is still owed to SI-DEP (delivery.owes_sidep)
    time_zone: str = "UTC"  # the pharmacy's: its days count the retention


def pharmacy_today(facts: RetentionFacts, now: datetime) -> date:
    """Today in the record's pharmacy: the `today` of due_reason, held_until and near_cap_unacknowledged."""
    return local_day(now, facts.time_zone)


def due_reason(facts: RetentionFacts, today: date, policy: RetentionPolicy) -> EraseReason | None:
    """Why the record's personal data must be erased on `today` (the pharmacy's), or None (not yet,
    or already gone).

    Recomputed from the facts, not trusted from the stored erase_day: a stale index entry can
    never erase early."""
    if facts.erase_day is None:
        return None
    due = erase_day(facts.created_at, facts.acknowledged_at, policy, facts.time_zone)
    if today < due:
        return None
    if today >= hard_cap_day(facts.created_at, policy, facts.time_zone):
        return EraseReason.HARD_CAP  # the legal bound: whatever is still owed (the alarm fired before)
    if facts.message_pending:
        # a correction or a withdrawal still has to reach SI-DEP (maybe a dead letter or rejected,
        # to be fixed and resent from this data): erasing now would leave SI-DEP with a result we
        # no longer stand by. It goes once acknowledged, or at the hard cap.
        return None
    return EraseReason.AFTER_ACK


def hard_cap_day(created_at: datetime, policy: RetentionPolicy, time_zone: str = "UTC") -> date:
    """The legal bound: `hard_cap_days` after the creation day (in the pharmacy's zone)."""
    return local_day(created_at, time_zone) + timedelta(days=policy.hard_cap_days)


def held_until(facts: RetentionFacts, today: date, policy: RetentionPolicy) -> date | None:
    """The day to move a held record's stored erase_day to (its hard cap), or None.

    A record owed to SI-DEP past its after-ack day stays in its old erase_day partition otherwise:
    the purge looks back only `lookback_days` and the alarm only ahead, so neither would find it
    again before the TTL backstop deleted the whole item."""
    if facts.erase_day is None or not facts.message_pending or today < facts.erase_day:
        return None
    cap = hard_cap_day(facts.created_at, policy, facts.time_zone)
    return cap if facts.erase_day < cap else None


def is_leased(facts: RetentionFacts, now: datetime) -> bool:
    """An export run holds it: erase it on a later run rather than under a message in flight."""
    return facts.lease_expires_at is not None and facts.lease_expires_at >= now


def near_cap_unacknowledged(facts: RetentionFacts, today: date, policy: RetentionPolicy) -> bool:
    """Its data goes within `alarm_days` at the hard cap while SI-DEP's view is unsettled: never
    acknowledged (and not cancelled before anything was sent), or still owed a message (a held
    record sits in its cap's partition: `held_until`). Days are the pharmacy's."""
    if facts.erase_day is None:
        return False
    unsettled = facts.message_pending or (
        facts.acknowledged_at is None
        and (facts.already_sent or facts.delivery_state is not DeliveryState.CANCELLED)
    )
    if not unsettled:
        return False
    due = hard_cap_day(facts.created_at, policy, facts.time_zone)
    return due <= today + timedelta(days=policy.alarm_days)


def purge_days(today: date, policy: RetentionPolicy) -> Iterator[date]:
    """The erase_day partitions a run reads: `lookback_days` back (runs missed) up to tomorrow (UTC
    days: a pharmacy east of UTC may already be in it)."""
    for offset in range(policy.lookback_days, -2, -1):
        yield today - timedelta(days=offset)


def alarm_days(today: date, policy: RetentionPolicy) -> Iterator[date]:
    """The partitions whose unacknowledged records warrant the alarm (today included, and one more
    day for the pharmacies east of UTC)."""
    for offset in range(policy.alarm_days + 2):
        yield today + timedelta(days=offset)


def coarse_day(moment: datetime) -> datetime:
    """The start of the moment's own calendar day, in its own offset: the skeleton keeps the day, not
    the time (a known visit time plus a result could single a patient out)."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
