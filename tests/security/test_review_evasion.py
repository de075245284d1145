"""A pharmacist who wants the journal's automatic review (chalicelib/domain/access_review.py) not to
see a bulk read: every answer that discloses a record's patient counts as reading it, whatever
route answered it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.domain.access_review import ReviewEvent, ReviewState, review, review_event
from testkit.patients import screening_body
from testkit.review import POLICY, ChainWriter
from tests.conftest import PHARMACY_A, World

NINE = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)  # a Monday, 10:05 in Paris


def _created(world: World, patient: int) -> str:
    response = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(patient, "negative"))
    assert response.status_code == 201, response.body
    return str(json.loads(response.body)["id"])


def _pharmacy_events() -> list[ReviewEvent]:
    links = sorted((m for m in AuditEventModel.scan() if m.chain == PHARMACY_A), key=lambda m: int(m.seq))
    found = (review_event(int(m.seq), m.time, m.event) for m in links)
    return [event for event in found if event is not None]


def test_a_retried_put_of_the_same_result_discloses_the_patient_and_counts_as_a_read_in_the_review(
    world: World,
) -> None:
    record_ids = [_created(world, patient) for patient in range(3)]
    for record_id in record_ids:  # "retries": the result stays, the answer is the whole record
        response = world.call("PUT", f"/v1/tests/{record_id}/result", "pharmacist-a", {"result": "negative"})
        assert response.status_code == 200, response.body
        assert json.loads(response.body)["patient"], "the premise: the answer holds the patient"
    policy = replace(POLICY, bulk_reads_hard=len(record_ids) - 1)  # the same shape, a small hard threshold
    alerts = review(ReviewState(), PHARMACY_A, _pharmacy_events(), policy)[1]
    assert [(a.detector, a.subject) for a in alerts] == [("bulk_reads", "pharmacist-a")]
    assert set(alerts[0].record_ids) == set(record_ids)


def test_refusals_on_the_alerts_routes_count_as_refusals_while_their_successes_stay_unreviewed() -> None:
    # A pharmacist probing the alerts routes (a 403 each), or an admin trying again and again to
    # acknowledge the alert about themselves: refusals like any other; only handling alerts is not fed.
    chain = ChainWriter(PHARMACY_A)
    for n in range(POLICY.refusal_burst + 1):
        chain.add(NINE + timedelta(seconds=n), "pharmacist-a", "read_alerts", outcome="denied")
        chain.add(
            NINE + timedelta(seconds=n), "owner", "acknowledge_alert", role="pharmacy_admin", outcome="denied"
        )
    chain.add(NINE + timedelta(minutes=5), "owner", "read_alerts", role="pharmacy_admin")
    events = [e for link in chain.links if (e := review_event(link.seq, link.time, link.event)) is not None]
    assert [e.outcome for e in events] == ["denied"] * 2 * (POLICY.refusal_burst + 1)
    alerts = review(ReviewState(), PHARMACY_A, events, POLICY)[1]
    assert {(a.detector, a.subject) for a in alerts} == {
        ("repeated_refusals", "pharmacist-a"),
        ("repeated_refusals", "owner"),
        ("repeated_refusals", "source:192.0.2.10"),
    }
