"""The retention policy, pure: erase days, day boundaries, the hard cap, the near-cap alarm."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.config import load_settings
from chalicelib.domain.delivery import owes_sidep
from chalicelib.domain.model import DeliveryState, MessageKind
from chalicelib.domain.retention import (
    EraseReason,
    RetentionConfigError,
    RetentionFacts,
    RetentionPolicy,
    alarm_days,
    backstop_expiry,
    coarse_day,
    due_reason,
    erase_day,
    held_until,
    is_leased,
    near_cap_unacknowledged,
    purge_days,
    skeleton_expiry,
)
from chalicelib.services.retention import retention_policy

POLICY = RetentionPolicy()  # 30 days after acknowledgement, 90 days hard cap
CREATED = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # late in the UTC day: days are UTC days
D0 = date(2026, 11, 29)


def facts(
    acknowledged_at: datetime | None = None,
    state: DeliveryState = DeliveryState.READY,
    stored_day: date | None = D0,
    lease: datetime | None = None,
) -> RetentionFacts:
    return RetentionFacts(
        finess="750000010",
        record_id="r1",
        version=3,
        created_at=CREATED,
        sampled_at=CREATED - timedelta(minutes=10),
        acknowledged_at=acknowledged_at,
        delivery_state=state,
        erase_day=stored_day,
        lease_expires_at=lease,
    )


def test_defaults_are_the_issue_s() -> None:
    assert (POLICY.after_ack_days, POLICY.hard_cap_days) == (30, 90)
    policy = retention_policy(load_settings({}))
    assert policy == RetentionPolicy(30, 90, 7, 365, 7, 30)


def test_settings_reach_the_policy() -> None:
    env = {
        "RETENTION_AFTER_ACK_DAYS": "10",
        "RETENTION_HARD_CAP_DAYS": "40",
        "RETENTION_TTL_GRACE_DAYS": "3",
        "SKELETON_RETENTION_DAYS": "200",
        "RETENTION_ALARM_DAYS": "2",
        "RETENTION_PURGE_LOOKBACK_DAYS": "5",
    }
    assert retention_policy(load_settings(env)) == RetentionPolicy(10, 40, 3, 200, 2, 5)


@pytest.mark.parametrize(
    "kwargs",
    [{"hard_cap_days": 0}, {"after_ack_days": -1}, {"ttl_grace_days": 0}, {"skeleton_days": 97}],
)
def test_contradictory_days_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(RetentionConfigError):
        RetentionPolicy(**kwargs)


def test_never_acknowledged_erase_day_is_the_hard_cap() -> None:
    assert erase_day(CREATED, None, POLICY) == D0 + timedelta(days=90)


def test_acknowledged_erase_day_is_30_days_after_the_acknowledgement_day() -> None:
    ack = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    assert erase_day(CREATED, ack, POLICY) == date(2026, 12, 31)


def test_a_late_acknowledgement_never_outlives_the_hard_cap() -> None:
    ack = CREATED + timedelta(days=75)
    assert erase_day(CREATED, ack, POLICY) == D0 + timedelta(days=90)


def test_days_are_utc_days() -> None:
    paris_evening = datetime.fromisoformat("2026-11-30T00:30:00+01:00")  # still 29 November in UTC
    assert erase_day(paris_evening, None, POLICY) == D0 + timedelta(days=90)


def test_after_ack_the_day_before_nothing_on_the_day_erased() -> None:
    ack = CREATED + timedelta(minutes=40)  # acknowledged 2026-11-30 00:10 (UTC)
    due = date(2026, 12, 30)
    record = facts(acknowledged_at=ack)
    assert due_reason(record, due - timedelta(days=1), POLICY) is None
    assert due_reason(record, due, POLICY) is EraseReason.AFTER_ACK
    assert due_reason(record, due + timedelta(days=5), POLICY) is EraseReason.AFTER_ACK  # a missed run


@pytest.mark.parametrize(
    "state", [DeliveryState.PENDING, DeliveryState.READY, DeliveryState.FAILED, DeliveryState.CANCELLED]
)
def test_hard_cap_whatever_the_state(state: DeliveryState) -> None:
    cap = D0 + timedelta(days=90)
    record = facts(state=state)
    assert due_reason(record, cap - timedelta(days=1), POLICY) is None
    assert due_reason(record, cap, POLICY) is EraseReason.HARD_CAP


def test_an_acknowledgement_after_the_cap_minus_30_days_is_erased_at_the_cap() -> None:
    record = facts(acknowledged_at=CREATED + timedelta(days=80), state=DeliveryState.ACKNOWLEDGED)
    assert due_reason(record, D0 + timedelta(days=89), POLICY) is None
    assert due_reason(record, D0 + timedelta(days=90), POLICY) is EraseReason.HARD_CAP


def test_a_stale_index_entry_never_erases_early() -> None:
    # the stored day says today, but the facts (no acknowledgement) say the cap: nothing yet
    record = facts(stored_day=D0 + timedelta(days=30))
    assert due_reason(record, D0 + timedelta(days=30), POLICY) is None


def test_an_erased_record_is_never_due_again() -> None:
    assert due_reason(facts(stored_day=None), D0 + timedelta(days=400), POLICY) is None


def test_near_cap_alarm_for_unacknowledged_records_within_7_days() -> None:
    cap = D0 + timedelta(days=90)
    record = facts()
    assert not near_cap_unacknowledged(record, cap - timedelta(days=8), POLICY)
    assert near_cap_unacknowledged(record, cap - timedelta(days=7), POLICY)
    assert near_cap_unacknowledged(record, cap, POLICY)


def test_no_alarm_for_acknowledged_cancelled_or_erased_records() -> None:
    cap = D0 + timedelta(days=90)
    assert not near_cap_unacknowledged(facts(acknowledged_at=CREATED + timedelta(days=80)), cap, POLICY)
    assert not near_cap_unacknowledged(facts(state=DeliveryState.CANCELLED), cap, POLICY)
    assert not near_cap_unacknowledged(facts(stored_day=None), cap, POLICY)


def test_lease_blocks_only_while_live() -> None:
    now = datetime(2027, 2, 27, 3, tzinfo=UTC)
    assert is_leased(facts(lease=now + timedelta(seconds=1)), now)
    assert not is_leased(facts(lease=now - timedelta(seconds=1)), now)
    assert not is_leased(facts(), now)


def test_ttl_backstop_after_the_cap_and_skeleton_expiry_a_year_on() -> None:
    assert backstop_expiry(CREATED, POLICY) == datetime(2027, 3, 6, tzinfo=UTC)  # 90 + 7 days
    assert backstop_expiry(CREATED, POLICY).date() > D0 + timedelta(days=90)
    assert skeleton_expiry(CREATED, POLICY) == datetime(2027, 11, 29, tzinfo=UTC)


def test_days_read_by_a_run() -> None:
    today = date(2027, 1, 31)
    days = list(purge_days(today, RetentionPolicy(lookback_days=3)))
    # up to tomorrow (UTC): a pharmacy east of UTC may already be in it
    assert days == [date(2027, 1, 28), date(2027, 1, 29), date(2027, 1, 30), today, date(2027, 2, 1)]
    assert list(alarm_days(today, RetentionPolicy(alarm_days=2))) == [
        today,
        date(2027, 2, 1),
        date(2027, 2, 2),
        date(2027, 2, 3),
    ]


def test_skeleton_keeps_the_day_not_the_time() -> None:
    sampled = datetime.fromisoformat("2026-11-29T10:15:00+01:00")
    assert coarse_day(sampled).isoformat() == "2026-11-29T00:00:00+01:00"


def test_only_an_acknowledgement_settles_what_is_owed_to_sidep() -> None:
    # pending_message stays set through READY, LEASED, FAILED and REJECTED: every kind is owed
    assert all(owes_sidep(kind) for kind in MessageKind)
    assert not owes_sidep(None)


@pytest.mark.parametrize("state", [DeliveryState.READY, DeliveryState.FAILED, DeliveryState.REJECTED])
def test_a_record_owed_to_sidep_waits_past_its_after_ack_day_until_the_cap(state: DeliveryState) -> None:
    ack = CREATED + timedelta(minutes=40)
    after_ack, cap = date(2026, 12, 30), D0 + timedelta(days=90)
    owed = replace(facts(acknowledged_at=ack, state=state, stored_day=after_ack), message_pending=True)
    assert due_reason(owed, after_ack + timedelta(days=5), POLICY) is None
    assert held_until(owed, after_ack - timedelta(days=1), POLICY) is None  # not due yet: left as is
    assert held_until(owed, after_ack, POLICY) == cap  # moved where the alarm and the cap run look
    held = replace(owed, erase_day=cap)
    assert held_until(held, cap - timedelta(days=10), POLICY) is None  # already there
    assert not near_cap_unacknowledged(held, cap - timedelta(days=8), POLICY)
    assert near_cap_unacknowledged(held, cap - timedelta(days=7), POLICY)  # the alarm, a week ahead
    assert due_reason(held, cap, POLICY) is EraseReason.HARD_CAP  # the legal bound, owed or not
    settled = replace(owed, message_pending=False)
    assert held_until(settled, after_ack, POLICY) is None


def test_retention_days_are_the_pharmacy_s_days() -> None:
    # 23:30 UTC is already the next day in Réunion (UTC+4) and still the same day in Guadeloupe
    assert erase_day(CREATED, None, POLICY, "Indian/Reunion") == D0 + timedelta(days=91)
    assert erase_day(CREATED, None, POLICY, "America/Guadeloupe") == D0 + timedelta(days=90)
    reunion = replace(facts(), time_zone="Indian/Reunion")
    assert due_reason(reunion, D0 + timedelta(days=90), POLICY) is None
    assert due_reason(reunion, D0 + timedelta(days=91), POLICY) is EraseReason.HARD_CAP
    # a record held for an owed message moves to its cap in the pharmacy's days too
    owed = replace(reunion, acknowledged_at=CREATED, erase_day=date(2026, 12, 30), message_pending=True)
    assert held_until(owed, date(2026, 12, 30), POLICY) == D0 + timedelta(days=91)


def test_the_purge_s_today_is_the_pharmacy_s_today() -> None:
    from chalicelib.domain.retention import pharmacy_today

    now = datetime(2027, 2, 27, 21, 0, tzinfo=UTC)
    assert pharmacy_today(replace(facts(), time_zone="Indian/Reunion"), now) == date(2027, 2, 28)
    assert pharmacy_today(facts(), now) == date(2027, 2, 27)  # UTC when no zone is known
