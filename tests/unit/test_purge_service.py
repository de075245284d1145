"""The purge use case on in-memory ports: journal before erasure, dry run, skips, the time budget;
statistics and the patient query parser."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.errors import ServiceUnavailable, ValidationFailed
from chalicelib.domain.model import DeliveryState, RecordStatus, ScreeningResult
from chalicelib.domain.retention import RetentionFacts, RetentionPolicy
from chalicelib.domain.stats import Skeleton, StatsQuery, range_stats
from chalicelib.payloads import parse_patient_query, parse_stats_query
from chalicelib.services.retention import PurgeDeps, purge
from testkit.fakes import FakeJournal, FakeRetentionStore
from testkit.patients import PATIENTS, personal_needles

CREATED = datetime(2026, 11, 29, 10, tzinfo=UTC)
POLICY = RetentionPolicy()


def add(
    store: FakeRetentionStore, record_id: str, ack_after_days: int | None = None, **extra: object
) -> None:
    ack = CREATED + timedelta(days=ack_after_days) if ack_after_days is not None else None
    from chalicelib.domain.retention import erase_day

    facts = RetentionFacts(
        finess="750000010",
        record_id=record_id,
        version=2,
        created_at=CREATED,
        sampled_at=CREATED,
        acknowledged_at=ack,
        delivery_state=DeliveryState.ACKNOWLEDGED if ack else DeliveryState.READY,
        erase_day=erase_day(CREATED, ack, POLICY),
    )
    store.records[record_id] = replace(facts, **extra)  # type: ignore[arg-type]


def at(days: int) -> datetime:
    return CREATED.replace(hour=3) + timedelta(days=days)


def test_erases_what_is_due_and_journals_each_before_erasing() -> None:
    store, journal = FakeRetentionStore(), FakeJournal()
    add(store, "acked", ack_after_days=0)
    add(store, "never")
    deps = PurgeDeps(store=store, journal=journal, policy=POLICY)

    assert purge(deps, at(29)).erased_count == 0
    assert journal.events == []
    report = purge(deps, at(30))
    assert report.erased == {"after_ack": ["acked"], "hard_cap": []}
    (event,) = journal.events
    assert (event.action, event.outcome, event.actor, event.role) == (
        "erase",
        "success",
        "system:purge",
        "system",
    )
    assert (event.finess, tuple(event.record_ids), event.reason) == ("750000010", ("acked",), "after_ack")
    assert purge(deps, at(31)).erased_count == 0  # idempotent
    assert purge(deps, at(90)).erased == {"after_ack": [], "hard_cap": ["never"]}


def test_dry_run_reports_the_same_and_writes_nothing() -> None:
    store, journal = FakeRetentionStore(), FakeJournal()
    for i in range(3):
        add(store, f"r{i}")
    deps = PurgeDeps(store=store, journal=journal, policy=POLICY)
    dry = purge(deps, at(90), dry_run=True)
    assert store.erased == [] and journal.events == []
    real = purge(deps, at(90))
    assert (
        dry.to_json()["erased"]
        == real.to_json()["erased"]
        == {"after_ack": [], "hard_cap": ["r0", "r1", "r2"]}
    )


def test_leased_and_changed_records_wait_for_the_next_run() -> None:
    store, journal = FakeRetentionStore(refuse={"changed"}), FakeJournal()
    add(store, "leased", lease_expires_at=at(90) + timedelta(minutes=1))
    add(store, "changed")
    report = purge(PurgeDeps(store=store, journal=journal, policy=POLICY), at(90))
    assert report.skipped_leased == ["leased"] and report.skipped_changed == ["changed"]
    assert report.erased_count == 0
    # the erasure and its event are one write: a record changed meanwhile gets neither
    assert journal.events == [] and store.erased == []


def test_a_journal_outage_stops_the_run_before_any_untraced_erasure() -> None:
    store, journal = FakeRetentionStore(), FakeJournal(down=True)
    add(store, "r1")
    with pytest.raises(ServiceUnavailable):
        purge(PurgeDeps(store=store, journal=journal, policy=POLICY), at(90))
    assert store.erased == []


def test_near_cap_alarm_lists_unacknowledged_records() -> None:
    store = FakeRetentionStore()
    add(store, "never")
    add(store, "acked", ack_after_days=70)  # erased at the cap too, but SI-DEP has it
    add(store, "cancelled", delivery_state=DeliveryState.CANCELLED)
    deps = PurgeDeps(store=store, journal=FakeJournal(), policy=POLICY)
    assert purge(deps, at(82), dry_run=True).unacknowledged_near_cap == []
    assert purge(deps, at(83), dry_run=True).unacknowledged_near_cap == ["never"]


def test_the_time_budget_stops_between_days() -> None:
    store = FakeRetentionStore()
    add(store, "r1")
    report = purge(
        PurgeDeps(store=store, journal=FakeJournal(), policy=POLICY), at(90), time_left=lambda: 1.0
    )
    assert report.stopped_by_budget and report.erased_count == 0 and store.erased == []


# --- statistics ----------------------------------------------------------------------------------


def test_stats_count_tests_results_positivity_and_states() -> None:
    day = date(2026, 11, 29)
    s = Skeleton
    skeletons = [
        s(RecordStatus.ACKNOWLEDGED, ScreeningResult.POSITIVE, DeliveryState.ACKNOWLEDGED),
        s(RecordStatus.READY, ScreeningResult.NEGATIVE, DeliveryState.READY),
        s(RecordStatus.READY, ScreeningResult.NEGATIVE, DeliveryState.READY),
        s(RecordStatus.READY, ScreeningResult.INVALID, DeliveryState.READY),
        s(RecordStatus.PENDING, None, DeliveryState.PENDING),
        s(RecordStatus.CANCELLED, ScreeningResult.POSITIVE, DeliveryState.CANCELLED),
    ]
    stats = range_stats("750000010", StatsQuery(day, day + timedelta(days=1)), {day: skeletons})
    first, second = stats["days"]
    assert first == {
        "date": "2026-11-29",
        "tests": 5,
        "positive": 1,
        "negative": 2,
        "invalid": 1,
        "pending": 1,
        "positivity": round(1 / 3, 4),
    }
    assert second["tests"] == 0 and second["positivity"] is None
    assert stats["totals"]["tests"] == 5
    assert stats["delivery_states"]["ready"] == 3 and stats["delivery_states"]["cancelled"] == 1
    assert stats["delivery_states"]["failed"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "from"),
        ({"from": "2026-11-29"}, "to"),
        ({"from": "2026-11-30", "to": "2026-11-29"}, "from"),
        ({"from": "2026-01-01", "to": "2026-06-01"}, "to"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "2026-11-29", "to": "2026-11-29", "nir": "x"}, "nir"),
    ],
)
def test_stats_query_errors_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_stats_query(params)
    assert field in {e.field for e in caught.value.errors}


def test_stats_range_of_92_days_is_accepted() -> None:
    query = parse_stats_query({"from": "2026-09-01", "to": "2026-12-01"})
    assert len(query.days()) == 92


# --- the patient query -----------------------------------------------------------------------------


def test_patient_query_normalises_the_nir() -> None:
    assert parse_patient_query({"nir": PATIENTS[0]["nir"]}) == PATIENTS[0]["nir"].replace(" ", "")


@pytest.mark.parametrize(
    "body",
    [
        {"nir": "2 95 10 99 126 111 94"},  # wrong key
        {"nir": 295109912611193},
        {},
        {"nir": PATIENTS[0]["nir"], "last_name": PATIENTS[0]["last_name"]},
        [PATIENTS[0]["nir"]],
    ],
)
def test_patient_query_errors_never_echo(body: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_patient_query(body)
    text = repr([(e.field, e.message) for e in caught.value.errors]) + caught.value.detail
    # an unknown field is named, as in every other body (its name is not a submitted value)
    assert {e.field for e in caught.value.errors} <= {"nir", "body", "last_name"}
    for needle in [*personal_needles(), "2 95 10 99 126 111 94", "295109912611194"]:
        assert needle not in text


def test_a_record_still_owed_to_sidep_is_held_at_its_cap_and_never_erased_before() -> None:
    store, journal = FakeRetentionStore(), FakeJournal()
    add(store, "owed", ack_after_days=0, message_pending=True, delivery_state=DeliveryState.FAILED)
    deps = PurgeDeps(store=store, journal=journal, policy=POLICY)

    dry = purge(deps, at(30), dry_run=True)
    assert dry.held_owed == ["owed"]
    assert store.records["owed"].erase_day == date(2026, 11, 29) + timedelta(days=30)  # dry: no write
    report = purge(deps, at(30))
    assert report.held_owed == ["owed"] and report.erased_count == 0 and journal.events == []
    assert store.records["owed"].erase_day == date(2026, 11, 29) + timedelta(days=90)
    assert purge(deps, at(83)).unacknowledged_near_cap == ["owed"]
    assert purge(deps, at(90)).erased == {"after_ack": [], "hard_cap": ["owed"]}
