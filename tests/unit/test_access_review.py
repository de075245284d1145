"""The journal review's detectors, pure: each fires above its threshold and stays silent at it, one
alert per subject per hour, the review's own events never fed back, a replay raising nothing, and a
state that stays bounded whatever the journal holds."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.access_review import (
    ReviewEvent,
    ReviewPolicy,
    ReviewState,
    bulk_threshold,
    record_digest,
    review,
    review_event,
)
from chalicelib.domain.alerts import DETECTORS, Alert
from chalicelib.domain.audit_chain import RECORD_IDS_MAX, format_time
from chalicelib.domain.model import USERNAME_MAX_LENGTH
from chalicelib.domain.opening_hours import opening_hours, parse_hours_ranges
from testkit.review import POLICY

FINESS = "750000010"
NINE = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)  # a Monday, 10:05 in Paris


class Events:
    """A pharmacy's events, numbered as its chain numbers them."""

    def __init__(self) -> None:
        self.events: list[ReviewEvent] = []

    def add(self, at: datetime, actor: str, action: str, **fields: Any) -> None:
        self.events.append(
            ReviewEvent(seq=len(self.events) + 1, time=at, actor=actor, action=action, **fields)
        )

    def reads(self, actor: str, ids: list[str], at: datetime = NINE) -> None:
        for n, record_id in enumerate(ids):
            self.add(
                at + timedelta(seconds=n),
                actor,
                "read",
                role="pharmacist",
                outcome="success",
                record_ids=(record_id,),
            )


def ids(n: int, prefix: str = "r") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(n)]


def alerts_of(events: Events, policy: ReviewPolicy = POLICY, **kwargs: object) -> list[Alert]:
    return review(ReviewState(), FINESS, events.events, policy, **kwargs)[1]  # type: ignore[arg-type]


def test_one_actor_reading_more_distinct_records_than_the_hard_threshold_in_an_hour_is_one_alert() -> None:
    events = Events()
    events.reads("pharmacist-a", ids(POLICY.bulk_reads_hard + 100))
    (alert,) = alerts_of(events)
    assert (alert.detector, alert.subject, alert.count, alert.threshold) == (
        "bulk_reads",
        "pharmacist-a",
        POLICY.bulk_reads_hard + 1,
        POLICY.bulk_reads_hard,
    )
    assert alert.window_start == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert alert.window_end - alert.window_start == timedelta(hours=1)
    assert set(alert.record_ids) <= set(ids(POLICY.bulk_reads_hard + 100))
    assert len(alert.record_ids) == POLICY.bulk_reads_hard + 1


def test_reading_the_hard_threshold_exactly_or_the_same_records_again_and_again_raises_nothing() -> None:
    events = Events()
    events.reads("pharmacist-a", ids(POLICY.bulk_reads_hard))
    events.reads("pharmacist-a", ids(POLICY.bulk_reads_hard) * 3, at=NINE + timedelta(minutes=10))
    events.reads("pharmacist-b", ids(POLICY.bulk_reads_hard))  # another actor counts apart
    assert alerts_of(events) == []


def test_a_list_or_an_export_counts_each_record_it_names() -> None:
    events = Events()
    for page in range(5):
        events.add(
            NINE,
            "pharmacist-a",
            "list",
            role="pharmacist",
            outcome="success",
            record_ids=tuple(ids(50, f"p{page}")),
        )
    (alert,) = alerts_of(events)
    assert alert.detector == "bulk_reads" and alert.count == POLICY.bulk_reads_hard + 1


def test_the_relative_threshold_follows_the_pharmacys_own_hours_never_under_the_floor() -> None:
    quiet = [5] * POLICY.bulk_reads_min_history
    assert bulk_threshold(quiet, POLICY) == POLICY.bulk_reads_floor
    busy = [50] * POLICY.bulk_reads_min_history
    assert bulk_threshold(busy, POLICY) == min(POLICY.bulk_reads_hard, 150)
    assert bulk_threshold([5] * (POLICY.bulk_reads_min_history - 1), POLICY) == POLICY.bulk_reads_hard
    state = ReviewState(history=quiet)
    below, above = Events(), Events()
    below.reads("pharmacist-a", ids(POLICY.bulk_reads_floor))
    above.reads("pharmacist-a", ids(POLICY.bulk_reads_floor + 1))
    assert review(state, FINESS, below.events, POLICY)[1] == []
    (alert,) = review(state, FINESS, above.events, POLICY)[1]
    assert alert.threshold == POLICY.bulk_reads_floor


def test_an_hour_closing_adds_each_actors_count_to_the_history_capped_at_the_hard_threshold() -> None:
    events = Events()
    events.reads("pharmacist-a", ids(12))
    events.reads("pharmacist-b", ids(POLICY.bulk_reads_hard + 50))
    events.reads("pharmacist-a", ids(1), at=NINE + timedelta(hours=1))
    state, _ = review(ReviewState(), FINESS, events.events, POLICY)
    assert sorted(state.history) == [12, POLICY.bulk_reads_hard]
    assert state.window == format_time(datetime(2026, 12, 7, 10, tzinfo=UTC))


def test_each_hour_is_its_own_window_one_alert_per_subject_in_each() -> None:
    events = Events()
    events.reads("pharmacist-a", ids(POLICY.bulk_reads_hard + 5))
    events.reads("pharmacist-a", ids(POLICY.bulk_reads_hard + 5, "s"), at=NINE + timedelta(hours=1))
    first, second = alerts_of(events)
    assert second.window_start - first.window_start == timedelta(hours=1)
    assert first.alert_id != second.alert_id


@pytest.mark.parametrize(
    ("detector", "action", "threshold", "role"),
    [
        ("search_burst", "patient_export", POLICY.search_burst, "pharmacist"),
        ("erasure_burst", "erase", POLICY.erasure_burst, "pharmacy_admin"),
    ],
)
def test_a_burst_of_searches_or_erasures_fires_above_its_threshold(
    detector: str, action: str, threshold: int, role: str
) -> None:
    at_threshold, above = Events(), Events()
    for n in range(threshold):
        at_threshold.add(
            NINE + timedelta(seconds=n),
            "pharmacist-a",
            action,
            role=role,
            outcome="success",
            record_ids=(f"x{n}",),
        )
        above.add(
            NINE + timedelta(seconds=n),
            "pharmacist-a",
            action,
            role=role,
            outcome="success",
            record_ids=(f"x{n}",),
        )
    above.add(
        NINE + timedelta(minutes=30), "pharmacist-a", action, role=role, outcome="success", record_ids=("y",)
    )
    assert [a for a in alerts_of(at_threshold) if a.detector == detector] == []
    (alert,) = [a for a in alerts_of(above) if a.detector == detector]
    assert (alert.subject, alert.count, alert.threshold) == ("pharmacist-a", threshold + 1, threshold)


def test_the_purges_erasures_are_no_burst() -> None:
    events = Events()
    for n in range(POLICY.erasure_burst * 10):
        events.add(NINE, "system:purge", "erase", role="system", outcome="success", record_ids=(f"x{n}",))
    assert alerts_of(events) == []


def test_repeated_refusals_fire_per_actor_and_per_source_address() -> None:
    by_actor, by_source, few = Events(), Events(), Events()
    for n in range(POLICY.refusal_burst + 1):
        by_actor.add(
            NINE, "pharmacist-a", "read", role="pharmacist", outcome="denied", source=f"198.51.100.{n}"
        )
        by_source.add(
            NINE, f"pharmacist-{n}", "authenticate", role="pharmacist", outcome="denied", source="203.0.113.9"
        )
    for _ in range(POLICY.refusal_burst):
        few.add(NINE, "pharmacist-a", "read", role="pharmacist", outcome="denied", source="203.0.113.9")
    assert [(a.detector, a.subject) for a in alerts_of(by_actor)] == [("repeated_refusals", "pharmacist-a")]
    assert [(a.detector, a.subject) for a in alerts_of(by_source)] == [
        ("repeated_refusals", "source:203.0.113.9")
    ]
    assert alerts_of(few) == []


def test_activity_outside_the_declared_hours_in_the_pharmacys_zone_is_one_alert_per_actor_and_hour() -> None:
    hours = opening_hours(
        {day: ["08:30-12:30", "14:00-19:30"] for day in ("mon", "tue", "wed", "thu", "fri")}, "Europe/Paris"
    )
    inside, outside = Events(), Events()
    inside.reads("pharmacist-a", ["r1"], at=datetime(2026, 12, 7, 7, 31, tzinfo=UTC))  # 08:31 in Paris
    inside.reads("pharmacist-a", ["r2"], at=datetime(2026, 12, 7, 18, 29, tzinfo=UTC))  # 19:29
    outside.reads("pharmacist-a", ["r1", "r2", "r3"], at=datetime(2026, 12, 7, 2, 0, tzinfo=UTC))  # 03:00
    outside.reads(
        "pharmacist-a", ["r4"], at=datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
    )  # 12:30, the lunch break
    outside.reads("pharmacist-a", ["r5"], at=datetime(2026, 12, 12, 10, 0, tzinfo=UTC))  # Saturday: closed
    assert alerts_of(inside, hours=hours) == []
    found = alerts_of(outside, hours=hours)
    assert [(a.detector, a.subject, a.record_ids) for a in found] == [
        ("outside_hours", "pharmacist-a", ("r1",)),
        ("outside_hours", "pharmacist-a", ("r4",)),
        ("outside_hours", "pharmacist-a", ("r5",)),
    ]
    assert alerts_of(outside) == []  # no hours declared: the detector is off


def test_declared_hours_are_checked() -> None:
    assert parse_hours_ranges(["14:00-19:30", "08:30-12:30"]) == ((510, 750), (840, 1170))
    assert parse_hours_ranges(["00:00-24:00"]) == ((0, 1440),)
    for bad in ("8:30-12:30", "12:30-08:30", "08:30", "08:60-09:00", "24:01-24:02", "aa:bb-cc:dd"):
        with pytest.raises(ValueError):
            parse_hours_ranges([bad])


def test_any_platform_decision_on_the_pharmacys_chain_is_an_alert() -> None:
    events = Events()
    events.add(NINE, "operator", "set_pharmacy_settings", role="platform_admin", outcome="success")
    events.add(
        NINE + timedelta(minutes=5), "operator", "invite_member", role="platform_admin", outcome="success"
    )
    (alert,) = alerts_of(events)
    assert (alert.detector, alert.subject) == ("platform_decision", "operator")


def test_the_reviews_own_events_never_feed_it() -> None:
    fields = {
        "actor": "review:bulk_reads",
        "role": "system",
        "action": "alert_raised",
        "outcome": "success",
        "record_ids": ids(900),
    }
    assert review_event(1, format_time(NINE), fields) is None
    admin = {"actor": "owner", "role": "pharmacy_admin", "action": "acknowledge_alert", "outcome": "success"}
    assert review_event(2, format_time(NINE), admin) is None
    assert review_event(3, "not a time", {"action": "read"}) is None
    read = review_event(
        4,
        format_time(NINE),
        {"actor": "a", "role": "pharmacist", "action": "read", "outcome": "success", "record_ids": ["r"]},
    )
    assert read is not None and read.record_ids == ("r",)


def test_a_replayed_batch_raises_nothing_and_leaves_the_state_as_it_was() -> None:
    events = Events()
    events.reads("pharmacist-a", ids(POLICY.bulk_reads_hard + 1))
    state, first = review(ReviewState(), FINESS, events.events, POLICY)
    again, second = review(state, FINESS, events.events, POLICY)
    assert len(first) == 1 and second == []
    assert again.to_json() == state.to_json()


def test_a_full_state_stays_far_under_dynamodbs_item_limit() -> None:
    """The worst the caps allow: every tracked actor at the hard threshold plus one, every count, a
    full history, every detector raised for every subject."""
    subjects = [f"psc-{n:040d}" for n in range(POLICY.max_subjects + 1)]
    state = ReviewState(
        last_seq=10**12 - 1,
        window=format_time(NINE),
        reads={s: [record_digest(str(n)) for n in range(POLICY.bulk_reads_hard + 1)] for s in subjects},
        searches=dict.fromkeys(subjects, 10**6),
        erasures=dict.fromkeys(subjects, 10**6),
        refusals={("source:" + "f" * 39 if n % 2 else s): 10**6 for n, s in enumerate(subjects)},
        alerted=[f"{d} {s}" for d in DETECTORS for s in subjects],
        history=[POLICY.bulk_reads_hard] * POLICY.history_size,
    )
    assert len(state.to_json().encode()) < 150_000  # DynamoDB's item limit is 400 KB


SMALL = replace(
    POLICY,
    bulk_reads_hard=6,
    bulk_reads_floor=3,
    bulk_reads_min_history=4,
    history_size=8,
    search_burst=2,
    erasure_burst=2,
    refusal_burst=2,
    max_subjects=3,
)

event_specs = st.lists(
    st.tuples(
        st.integers(0, 7),  # actor
        st.sampled_from(["read", "list", "patient_export", "erase", "alert_raised", "set_pharmacy_settings"]),
        st.sampled_from(["success", "denied"]),
        st.sampled_from(["pharmacist", "pharmacy_admin", "platform_admin", "system"]),
        st.lists(st.integers(0, 40), max_size=5),  # record ids
        st.integers(0, 5),  # source
        st.integers(0, 50),  # minutes after the previous event
    ),
    max_size=120,
)


def _events(specs: list[tuple[int, str, str, str, list[int], int, int]]) -> list[ReviewEvent]:
    at, found = NINE, []
    for seq, (actor, action, outcome, role, records, source, minutes) in enumerate(specs, start=1):
        at += timedelta(minutes=minutes)
        fields = {
            "actor": f"actor-{actor}",
            "role": role,
            "action": action,
            "outcome": outcome,
            "record_ids": [f"r{r}" for r in records],
            "source_ip": f"198.51.100.{source}",
        }
        event = review_event(seq, format_time(at), fields)
        if event is not None:
            found.append(event)
    return found


@settings(max_examples=80, deadline=None)
@given(
    specs=event_specs,
    cuts=st.lists(st.integers(0, 120), max_size=6),
    replays=st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_any_journal_cut_in_batches_any_of_them_replayed_raises_each_alert_once_and_keeps_the_state_bounded(
    specs: list[tuple[int, str, str, str, list[int], int, int]], cuts: list[int], replays: list[bool]
) -> None:
    events = _events(specs)
    hours = opening_hours({"mon": ["08:00-12:00"]}, "Europe/Paris")
    _, in_one_pass = review(ReviewState(), FINESS, events, SMALL, hours)
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    state, raised = ReviewState(), []
    for (start, end), replay in zip(itertools_pairwise(bounds), replays, strict=False):
        batch = events[start:end]
        state, alerts = review(state, FINESS, batch, SMALL, hours)
        raised += alerts
        if replay:  # Lambda delivers the batch again (after a failure to checkpoint it)
            state, again = review(state, FINESS, batch, SMALL, hours)
            assert again == []
        _assert_bounded(state)
    assert sorted(a.alert_id for a in raised) == sorted(a.alert_id for a in in_one_pass)
    assert len({a.alert_id for a in raised}) == len(raised)


def itertools_pairwise(values: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(values))


def _assert_bounded(state: ReviewState) -> None:
    tracked = SMALL.max_subjects + 1
    assert len(state.reads) <= tracked
    assert all(len(digests) <= SMALL.bulk_reads_hard + 1 for digests in state.reads.values())
    assert max(len(state.searches), len(state.erasures), len(state.refusals)) <= tracked
    assert len(state.alerted) <= len(DETECTORS) * (tracked + 1)
    assert len(state.history) <= SMALL.history_size


def test_refusals_from_addresses_rotating_inside_one_ipv6_64_count_as_one_source() -> None:
    events = [
        review_event(
            n,
            format_time(NINE),
            {
                "actor": f"a{n}",
                "role": "pharmacist",
                "action": "read",
                "outcome": "denied",
                "source_ip": f"2001:db8:1:2::{n:x}",
            },
        )
        for n in range(1, POLICY.refusal_burst + 2)
    ]
    found = review(ReviewState(), FINESS, [e for e in events if e is not None], POLICY)[1]
    assert [(a.detector, a.subject) for a in found] == [("repeated_refusals", "source:2001:db8:1:2::/64")]


def test_a_link_a_writer_crafted_with_huge_names_keeps_the_state_and_its_alerts_under_an_items_size() -> None:
    """Any function allowed to append to the journal can write a valid link whose actor or record
    ids run to hundreds of kilobytes (non-ASCII: six bytes each in JSON): the state and the alert
    must still fit an item, or every save fails and the review's stream stalls for every pharmacy."""
    hours = opening_hours({"mon": ["08:00-09:00"]}, "Europe/Paris")
    events = []
    for n in range(POLICY.max_subjects + 2):
        fields = {
            "actor": f"{n}" + "é" * 60_000,
            "role": "pharmacist" if n % 2 else "platform_admin",
            "action": "read",
            "outcome": "success" if n % 3 else "denied",
            "record_ids": [f"{n}-{i}" + "é" * 400 for i in range(RECORD_IDS_MAX)],
            "source_ip": "é" * 60_000,
        }
        event = review_event(n + 1, format_time(NINE + timedelta(seconds=n)), fields)
        assert event is not None
        events.append(event)
    state, alerts = review(ReviewState(), FINESS, events, POLICY, hours)
    assert alerts and len(state.to_json().encode()) < 200_000
    for alert in alerts:
        assert len(alert.subject) <= USERNAME_MAX_LENGTH
        assert sum(len(r.encode()) for r in alert.record_ids) < 200_000
    told_apart = {alert.subject for alert in alerts if alert.detector == "platform_decision"}
    assert len(told_apart) > 1
