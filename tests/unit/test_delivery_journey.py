"""One vocabulary for a record's way to SI-DEP: the delivery's step refines the record's status,
whatever happened (pure)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.domain import delivery
from chalicelib.domain.delivery import ErrorCategory, Journey
from chalicelib.domain.model import RecordStatus
from chalicelib.domain.model import ScreeningRecord as Record
from chalicelib.domain.model import ScreeningResult as Result
from chalicelib.payloads import DELIVERY
from tests.unit.test_delivery_state import NOW, POLICY, ready, record


def view(r: object) -> dict[str, object]:
    return DELIVERY.render(r)


def test_a_record_sent_whose_attempt_failed_is_retrying_with_its_error_category_never_ready() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW + timedelta(minutes=2))
    delivery.transport_failed(r, "tls error", NOW, POLICY, lambda: 0.5)
    body = view(r)
    assert (body["status"], body["state"], body["error_category"]) == ("sent", "retrying", "tls")
    assert body["rejection"] is None


def test_a_rejection_shows_its_code_and_category_and_no_error_category() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW + timedelta(minutes=2))
    delivery.reject(r, delivery.rejection_reason("AE", "207"), NOW)
    body = view(r)
    assert (body["status"], body["state"], body["error_category"]) == ("rejected", "rejected", None)
    assert body["rejection"] == {"ack_code": "AE", "code": "207", "category": "application internal error"}


def test_a_rejection_without_a_known_code_is_unspecified() -> None:
    assert delivery.rejection_of(delivery.rejection_reason("AR", "999")) == {
        "ack_code": "AR",
        "code": "",
        "category": "unspecified",
    }


def test_an_acknowledged_withdrawal_is_withdrawn_and_a_cancel_before_sending_is_cancelled() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW)
    delivery.acknowledge(r, NOW)
    delivery.schedule_withdrawal(r, NOW)
    assert (r.status, delivery.journey(r)) == (RecordStatus.CANCELLED, Journey.QUEUED)
    delivery.lease(r, NOW, NOW)
    delivery.acknowledge(r, NOW)
    assert delivery.journey(r) is Journey.WITHDRAWN
    unsent = ready()
    delivery.cancel(unsent, NOW)
    assert delivery.journey(unsent) is Journey.CANCELLED


@pytest.mark.parametrize(
    ("error", "category"),
    [
        ("connection error", ErrorCategory.UNREACHABLE),
        ("timeout", ErrorCategory.UNREACHABLE),
        ("tls error", ErrorCategory.TLS),
        ("http 500", ErrorCategory.SERVER_ERROR),
        ("http 429", ErrorCategory.THROTTLED),
        ("http 503", ErrorCategory.THROTTLED),
        ("no acknowledgement for the message", ErrorCategory.NO_ACKNOWLEDGEMENT),
        ("unreadable acknowledgement", ErrorCategory.NO_ACKNOWLEDGEMENT),
        ("no personal data to send", ErrorCategory.UNSENDABLE),
        ("decrypt: Service unavailable", ErrorCategory.UNSENDABLE),
        ("request error X", ErrorCategory.OTHER),
    ],
)
def test_each_transport_failure_has_its_category(error: str, category: ErrorCategory) -> None:
    assert delivery.error_category(error) is category


def possible_steps(r: Record) -> list[str]:
    """The transitions open to `r` now (leasing and the outcomes of a lease weighted up)."""
    steps = ["result", "null", "withdraw"]
    if delivery.has_message_to_send(r) and r.delivery.state.value == "ready":
        steps += ["lease"] * 3
    if r.delivery.state.value == "leased":
        steps += ["ack", "reject", "fail"] * 2
    if r.delivery.state.value == "failed":
        steps.append("redrive")
    if not delivery.already_sent(r) and r.status is not RecordStatus.CANCELLED:
        steps.append("cancel")
    return steps


def set_result(r: Record, result: Result | None) -> None:
    r.test = dataclasses.replace(r.test, result=result)
    delivery.schedule_send(r, NOW)


def apply_step(r: Record, step: str, rng: random.Random) -> None:
    transitions: dict[str, Callable[[], object]] = {
        "result": lambda: set_result(r, rng.choice([Result.NEGATIVE, Result.POSITIVE])),
        "null": lambda: set_result(r, None),
        "withdraw": lambda: delivery.schedule_withdrawal(r, NOW),
        "lease": lambda: delivery.lease(r, NOW, NOW),
        "ack": lambda: delivery.acknowledge(r, NOW),
        "reject": lambda: delivery.reject(r, delivery.rejection_reason("AE", "101"), NOW),
        "fail": lambda: delivery.transport_failed(r, "http 500", NOW, POLICY, rng.random),
        "redrive": lambda: delivery.redrive(r, NOW),
        "cancel": lambda: delivery.cancel(r, NOW),
    }
    transitions[step]()


def test_over_any_sequence_of_transitions_the_status_agrees_with_the_step() -> None:
    rng = random.Random(26)
    for _ in range(300):
        r = record()
        assert delivery.status_agrees(r)
        for _ in range(12):
            step = rng.choice(possible_steps(r))
            if r.status is RecordStatus.CANCELLED and step in ("result", "null", "cancel"):
                continue  # a cancelled record's result is not changed (the records service refuses)
            apply_step(r, step, rng)
            assert delivery.status_agrees(r), (step, r.status, r.delivery)
