""" "Already sent" is a fact that never resets (chalicelib/domain/delivery.py `already_sent`): each
reproduction of the first release, through the routes, with the fake SI-DEP receiver in process (its
ledger is the truth of what SI-DEP holds)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
from chalicelib.adapters.sidep import Hl7BatchSender
from chalicelib.domain import delivery
from chalicelib.services.export import ExportRun, ExportSettings, ExportSummary
from devtools.fake_sidep import Faults, InProcessTransport, Receiver
from testkit.patients import PATIENTS, screening_body
from tests.conftest import World


class Sidep:
    """The fake receiver in process and the export run that talks to it."""

    def __init__(self, state_dir: Path) -> None:
        self.receiver = Receiver(state_dir)
        self.transport = InProcessTransport(self.receiver)
        self.max_attempts = 8

    def export(self) -> ExportSummary:
        from chalicelib.bootstrap import get_container

        container = get_container()
        return ExportRun(
            queue=DynamoDbExportQueue(boto3.client("dynamodb", region_name="eu-west-3"), owner="test"),
            cipher=container.records.cipher,
            sender=Hl7BatchSender(self.transport),
            journal=container.journal,
            clock=container.clock,
            settings=ExportSettings(
                time_budget_seconds=600,
                batch_reserve_seconds=0,
                backoff=delivery.BackoffPolicy(base_seconds=0, cap_seconds=0, max_attempts=self.max_attempts),
            ),
            rand=lambda: 0.0,
        ).run()

    def lose_the_next_answer(self) -> None:
        """SI-DEP processes the next batch; its answer never comes back (a client timeout)."""
        self.transport.faults = Faults(slow_seconds=1)

    def answer_again(self) -> None:
        self.transport.faults = Faults()

    def holds(self, record_id: str) -> dict[str, str] | None:
        return self.receiver.holdings().get(record_id)


@pytest.fixture
def sidep(world: World, tmp_path: Path) -> Iterator[Sidep]:
    yield Sidep(tmp_path / "sidep")


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def create(world: World, result: str | None = "positive") -> str:
    response = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0, result))
    assert response.status_code == 201, response.body
    return str(body_of(response)["id"])


def delete(world: World, record_id: str) -> Any:
    return world.call("DELETE", f"/v1/tests/{record_id}", "pharmacist-a")


def assert_refused_with_the_withdrawal(response: Any, record_id: str) -> None:
    assert response.status_code == 409, response.body
    problem = body_of(response)
    assert problem["withdrawal"] == f"/v1/tests/{record_id}/withdrawal"
    assert "withdraw" in problem["detail"]


def test_a_timed_out_send_then_a_new_result_still_refuses_the_cancel(world: World, sidep: Sidep) -> None:
    record_id = create(world)
    sidep.lose_the_next_answer()
    assert sidep.export().retried == 1
    held = sidep.holds(record_id)
    assert held is not None and (held["kind"], held["result"]) == ("F", "260373001")  # SI-DEP has it
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)

    changed = world.call("PUT", f"/v1/tests/{record_id}/result", "pharmacist-a", {"result": "negative"})
    assert changed.status_code == 200
    # the first release answered 204 here, and never queued a withdrawal
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)

    withdrawn = world.call("POST", f"/v1/tests/{record_id}/withdrawal", "pharmacist-a")
    assert withdrawn.status_code == 200 and body_of(withdrawn)["status"] == "cancelled"
    sidep.answer_again()
    sidep.export()
    assert (sidep.holds(record_id) or {})["kind"] == "W"
    view = body_of(world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a"))
    assert view["status"] == "cancelled" and view["state"] == "withdrawn" and view["first_sent_at"]


def test_an_erasure_after_a_timed_out_send_names_the_record_as_already_sent(
    world: World, sidep: Sidep
) -> None:
    record_id = create(world)
    sidep.lose_the_next_answer()
    sidep.export()
    world.call("PUT", f"/v1/tests/{record_id}/result", "pharmacist-a", {"result": "negative"})

    erasure = world.call("POST", "/v1/patients/erasure", "pharmacist-a", {"nir": PATIENTS[0]["nir"]})
    assert erasure.status_code == 200
    body = body_of(erasure)
    # the first release answered {"erased": [id], "already_sent": []} while SI-DEP held the result
    assert body["erased"] == [] and [r["id"] for r in body["already_sent"]] == [record_id]
    assert sidep.holds(record_id) is not None
    assert body_of(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))["patient"] is not None


def test_an_acknowledgement_while_the_pharmacist_changes_then_cancels_ends_withdrawn(
    world: World, sidep: Sidep
) -> None:
    record_id = create(world)
    answers: list[int] = []

    def pharmacist_meanwhile() -> None:
        change = world.call("PUT", f"/v1/tests/{record_id}/result", "pharmacist-a", {"result": "negative"})
        answers.append(change.status_code)
        cancel = delete(world, record_id)
        answers.append(cancel.status_code)
        assert_refused_with_the_withdrawal(cancel, record_id)
        answers.append(world.call("POST", f"/v1/tests/{record_id}/withdrawal", "pharmacist-a").status_code)

    sidep.transport.while_in_flight = pharmacist_meanwhile
    sidep.export()  # SI-DEP answers AA for the positive result
    assert answers == [200, 409, 200]
    for _ in range(3):
        sidep.export()
    # the first release left it cancelled with the acknowledgement recorded and no withdrawal
    assert (sidep.holds(record_id) or {})["kind"] == "W"
    view = body_of(world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a"))
    assert (view["status"], view["state"], view["pending_message"]) == ("cancelled", "withdrawn", None)


def test_a_dead_letter_stays_uncancellable_once_redriven(world: World, sidep: Sidep) -> None:
    from chalicelib import jobs

    record_id = create(world)
    sidep.max_attempts = 1
    sidep.lose_the_next_answer()
    assert sidep.export().failed == 1
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)

    assert jobs.redrive() == 1
    # the first release answered 204 here: the redrive had reset the attempts
    assert_refused_with_the_withdrawal(delete(world, record_id), record_id)
    sidep.answer_again()
    sidep.max_attempts = 8
    sidep.export()
    assert (sidep.holds(record_id) or {})["kind"] == "F"
    assert body_of(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))["status"] == "acknowledged"


def test_a_rejection_keeps_no_free_text_in_the_table(world: World, sidep: Sidep) -> None:
    record_id = create(world)
    sidep.transport.faults = Faults(ae_share=1.0)
    assert sidep.export().rejected == 1
    view = body_of(world.call("GET", f"/v1/tests/{record_id}/delivery", "pharmacist-a"))
    assert view["last_error"] == "AE 207 application internal error"
    assert view["history"][-1]["detail"] == "AE 207 application internal error"
    # SI-DEP's free text quoted the family name; nothing of it is stored, in any attribute
    scanned = json.dumps(
        boto3.client("dynamodb", region_name="eu-west-3").scan(TableName=_records_table())["Items"],
        default=str,
    )
    assert "simulated rejection" not in scanned and PATIENTS[0]["last_name"] not in scanned


def _records_table() -> str:
    from chalicelib.config import get_settings

    return get_settings().records_table


def _lease_right_after_the_read() -> Callable[[], None]:
    """Make the repository's next read be followed at once by an export run's lease."""
    from chalicelib.bootstrap import get_container
    from chalicelib.ports import Queued

    repository: Any = get_container().records.repository
    original = repository.get

    def get_then_lease(finess: str, record_id: str) -> Any:
        found = original(finess, record_id)
        repository.get = original  # once
        queue = DynamoDbExportQueue(boto3.client("dynamodb", region_name="eu-west-3"), owner="racer")
        now = get_container().clock.now()
        record, blob = original(finess, record_id)
        assert queue.lease([Queued(record, blob)], now, now + timedelta(minutes=2))
        return found

    repository.get = get_then_lease
    return lambda: setattr(repository, "get", original)


def test_a_cancel_racing_a_lease_is_refused(world: World, sidep: Sidep) -> None:
    record_id = create(world)
    restore = _lease_right_after_the_read()
    try:
        # read before the lease (nothing sent), written after: the store's condition refuses it
        assert delete(world, record_id).status_code == 409
    finally:
        restore()
    assert body_of(world.call("GET", f"/v1/tests/{record_id}", "pharmacist-a"))["status"] == "sent"
