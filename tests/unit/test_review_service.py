"""The review on a stream batch, with in-memory ports: grouped by pharmacy, alerts raised once
through the store (and its metric), the state saved on its version, replays and lost races
raising nothing twice, the review's own events never reviewed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.access_review import ReviewState
from chalicelib.domain.alerts import Alert
from chalicelib.domain.audit_chain import event_fields, format_time
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.opening_hours import opening_hours
from chalicelib.services.review import ReviewDeps, StoredLink, review_links
from testkit.fakes import FakeAlerts, FakeJournal, FakePharmacyHours, FakeReviewStates, FixedClock
from testkit.review import POLICY, ChainWriter

PHARMACY, OTHER = "750000010", "130000011"
NINE = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)


class Harness:
    def __init__(self) -> None:
        self.journal = FakeJournal()
        self.alerts = FakeAlerts(self.journal)
        self.states = FakeReviewStates()
        self.hours = FakePharmacyHours()
        self.metrics: list[str] = []
        self.deps = ReviewDeps(
            states=self.states,
            hours=self.hours,
            alerts=self.alerts,
            policy=POLICY,
            clock=FixedClock(NINE),
            on_alert=lambda alert: self.metrics.append(alert.detector),
        )


def exfiltration(chain: ChainWriter, n: int = 300) -> list[StoredLink]:
    return [
        chain.add(NINE + timedelta(seconds=i), "pharmacist-a", "read", record_ids=[f"r-{i:04d}"])
        for i in range(n)
    ]


def test_a_batch_is_reviewed_per_pharmacy_and_each_alert_raised_once_with_its_metric() -> None:
    h = Harness()
    mine, other = ChainWriter(PHARMACY), ChainWriter(OTHER)
    links = [*exfiltration(mine), other.add(NINE, "pharmacist-z", "read", record_ids=["z"])]
    summary = review_links(h.deps, links)
    (stored,) = h.alerts.alerts.values()
    assert (stored.alert.finess, stored.alert.detector, stored.alert.subject) == (
        PHARMACY,
        "bulk_reads",
        "pharmacist-a",
    )
    assert h.metrics == ["bulk_reads"]
    assert (summary.pharmacies, summary.raised, summary.links) == (2, 1, 301)
    assert set(h.states.items) == {PHARMACY, OTHER}
    assert h.alerts.list_alerts(OTHER, include_acknowledged=True, limit=10) == []


def test_a_replayed_batch_raises_nothing_twice_and_writes_no_state() -> None:
    h = Harness()
    links = exfiltration(ChainWriter(PHARMACY))
    review_links(h.deps, links)
    saves = h.states.saves
    summary = review_links(h.deps, links)
    assert (summary.raised, summary.already_raised, h.states.saves) == (0, 0, saves)
    assert len(h.alerts.alerts) == 1 and h.metrics == ["bulk_reads"]


def test_a_crash_after_raising_and_before_saving_the_state_raises_nothing_twice() -> None:
    h = Harness()
    links = exfiltration(ChainWriter(PHARMACY))
    saving = h.states.save
    h.states.save = lambda *a, **k: (_ for _ in ()).throw(ServiceUnavailable("down"))  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        review_links(h.deps, links)
    h.states.save = saving  # type: ignore[method-assign]
    summary = review_links(h.deps, links)  # Lambda delivers the batch again
    assert (summary.raised, summary.already_raised) == (0, 1)
    assert len(h.alerts.alerts) == 1 and h.metrics == ["bulk_reads"]


def test_a_state_saved_meanwhile_by_another_invocation_is_reviewed_again_then_given_up_loudly() -> None:
    h = Harness()
    links = exfiltration(ChainWriter(PHARMACY))
    h.states.lose_next = 1
    summary = review_links(h.deps, links)
    assert (summary.conflicts, summary.raised, summary.already_raised) == (1, 1, 1)
    h2 = Harness()
    h2.states.lose_next = 3
    with pytest.raises(ServiceUnavailable):
        review_links(h2.deps, links)


def test_the_alert_raised_events_the_store_appends_fed_back_through_the_stream_raise_nothing() -> None:
    h = Harness()
    chain = ChainWriter(PHARMACY)
    review_links(h.deps, exfiltration(chain))
    assert [e.action for e in h.journal.events] == ["alert_raised"]
    later = NINE + timedelta(hours=3)
    fed_back = []
    for event in h.journal.events * 50:  # as if the stream brought them back, many times
        fields = event_fields(event)
        fed_back.append(chain.add(later, fields.pop("actor"), fields.pop("action"), **fields))
    summary = review_links(h.deps, fed_back)
    assert (summary.reviewed, summary.raised) == (0, 0)


def test_the_platform_chain_and_other_names_are_not_reviewed() -> None:
    h = Harness()
    platform = ChainWriter("platform")
    links = [
        platform.add(NINE, "operator", "read", role="platform_admin", record_ids=[f"r{i}"])
        for i in range(300)
    ]
    assert review_links(h.deps, links).pharmacies == 0
    assert h.alerts.alerts == {}


def test_a_pharmacys_declared_hours_reach_its_detector() -> None:
    h = Harness()
    declared = opening_hours({"mon": ["08:30-19:30"]}, "Europe/Paris")
    assert declared is not None
    h.hours.hours[PHARMACY] = declared
    chain = ChainWriter(PHARMACY)
    night = datetime(2026, 12, 7, 2, 10, tzinfo=UTC)
    review_links(h.deps, [chain.add(night, "pharmacist-a", "read", record_ids=["r1"])])
    (stored,) = h.alerts.alerts.values()
    assert stored.alert.detector == "outside_hours"
    assert stored.alert.window_start == datetime(2026, 12, 7, 2, tzinfo=UTC)


def test_a_pharmacy_seen_first_starts_from_a_fresh_state_saved_as_version_1() -> None:
    h = Harness()
    state, _ = h.states.load(PHARMACY)
    assert state == ReviewState()
    review_links(h.deps, exfiltration(ChainWriter(PHARMACY), 10))
    stored, version = h.states.load(PHARMACY)
    assert (stored.last_seq, version) == (10, 1)


def test_an_alert_names_identifiers_only() -> None:
    h = Harness()
    review_links(h.deps, exfiltration(ChainWriter(PHARMACY)))
    (stored,) = h.alerts.alerts.values()
    alert: Alert = stored.alert
    assert alert.alert_id.startswith("a-") and alert.window_start == NINE.replace(minute=0)
    assert all(r.startswith("r-") for r in alert.record_ids)
    assert format_time(replace(alert, count=0).window_end) == "2026-12-07T10:00:00.000000Z"


@pytest.mark.parametrize("down", ["alerts", "state load", "hours"])
def test_a_store_down_mid_batch_fails_the_batch_and_its_redelivery_loses_no_alert(down: str) -> None:
    """Two pharmacies in a batch, a store failing on the second: the batch is not acknowledged
    (Lambda delivers it again) and, the store back, each pharmacy's alert is raised exactly once."""
    h = Harness()
    links = exfiltration(ChainWriter(OTHER)) + exfiltration(ChainWriter(PHARMACY))  # OTHER sorts first
    failing: dict[str, tuple[object, str]] = {
        "alerts": (h.alerts, "raise_alert"),
        "state load": (h.states, "load"),
        "hours": (h.hours, "opening_hours"),
    }
    store, method = failing[down]
    working = getattr(store, method)

    def fails_for_pharmacy(*args: object, **kwargs: object) -> object:
        about = args[0]
        if about == PHARMACY or getattr(about, "finess", None) == PHARMACY:
            raise ServiceUnavailable("down")
        return working(*args, **kwargs)

    setattr(store, method, fails_for_pharmacy)
    with pytest.raises(ServiceUnavailable):
        review_links(h.deps, links)
    assert sorted(alert.alert.finess for alert in h.alerts.alerts.values()) == [OTHER]
    setattr(store, method, working)
    again = review_links(h.deps, links)  # Lambda delivers the batch again
    assert (again.raised, again.already_raised) == (1, 0)
    assert sorted(alert.alert.finess for alert in h.alerts.alerts.values()) == [OTHER, PHARMACY]
    assert h.metrics == ["bulk_reads", "bulk_reads"]
