"""A pharmacist who wants the journal's automatic review (chalicelib/domain/access_review.py) not to
see a bulk read: every answer that discloses a record's patient counts as reading it, whatever
route answered it."""

from __future__ import annotations

import json
from dataclasses import replace

from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.domain.access_review import ReviewEvent, ReviewState, review, review_event
from testkit.patients import screening_body
from testkit.review import POLICY
from tests.conftest import PHARMACY_A, World


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
