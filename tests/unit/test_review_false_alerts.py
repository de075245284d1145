"""The review's false-alert rate on a seeded simulation of normal weeks at one pharmacy
(testkit/review.py `normal_weeks`), fed batch by batch as the audit stream would; the figure is in
docs/review.md. An exfiltration in the middle of such a week is still one alert."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.audit_chain import parse_time
from chalicelib.domain.opening_hours import opening_hours
from chalicelib.services.review import ReviewDeps, StoredLink, review_links
from testkit.fakes import FakeAlerts, FakePharmacyHours, FakeReviewStates, FixedClock
from testkit.review import (
    DECLARED_HOURS,
    PARIS,
    POLICY,
    ChainWriter,
    normal_weeks,
)

PHARMACY = "750000010"
WEEKS = 4
BATCH = 100  # the stream handler's batch size (chalicelib/api/streams.py)


def reviewed(links: list[StoredLink]) -> FakeAlerts:
    alerts = FakeAlerts()
    hours = FakePharmacyHours({PHARMACY: opening_hours(DECLARED_HOURS, PARIS)})  # type: ignore[dict-item]
    deps = ReviewDeps(FakeReviewStates(), hours, alerts, POLICY, FixedClock())
    for start in range(0, len(links), BATCH):
        review_links(deps, links[start : start + BATCH])
    return alerts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_four_simulated_normal_weeks_at_a_pharmacy_raise_no_alert(seed: int) -> None:
    links = normal_weeks(PHARMACY, WEEKS, seed)
    assert len(links) > 1000 * WEEKS  # a real week's worth: over a thousand events
    alerts = reviewed(links)
    assert [(s.alert.detector, s.alert.subject, s.alert.window_start) for s in alerts.alerts.values()] == []


def test_an_exfiltration_in_a_normal_week_is_one_bulk_reads_alert_and_nothing_else() -> None:
    links = normal_weeks(PHARMACY, 2, seed=1)
    middle = parse_time(links[len(links) * 3 // 4].time)  # the second week, its history known
    chain = ChainWriter(PHARMACY)
    theft = [
        chain.add(middle + timedelta(seconds=i), "pharmacist-b", "read", record_ids=[f"rec-{i:07d}"])
        for i in range(1, 301)
    ]
    timeline = sorted([*links, *theft], key=lambda link: link.time)
    renumbered = [StoredLink(PHARMACY, n, link.time, link.event) for n, link in enumerate(timeline, start=1)]
    alerts = reviewed(renumbered)
    found = [(s.alert.detector, s.alert.subject) for s in alerts.alerts.values()]
    assert ("bulk_reads", "pharmacist-b") in found
    assert [f for f in found if f[0] != "outside_hours"] == [("bulk_reads", "pharmacist-b")]
