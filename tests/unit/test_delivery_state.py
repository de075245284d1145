"""The delivery state machine and the status each state shows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import delivery, model
from chalicelib.domain.model import DeliveryState, MessageKind, RecordStatus
from chalicelib.domain.model import ScreeningResult as Result
from chalicelib.payloads import DELIVERY

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = delivery.BackoffPolicy(max_attempts=3)


def status_of(r: model.ScreeningRecord) -> RecordStatus:
    """Read anew (mypy keeps an attribute narrowed by an earlier assert across the transition)."""
    return r.status


def state_of(r: model.ScreeningRecord) -> DeliveryState:
    return r.delivery.state


def record(result: Result | None = None) -> model.ScreeningRecord:
    return model.ScreeningRecord(
        id="r1",
        finess="750000010",
        patient=None,
        test=model.ScreeningTest(model.ScreeningKind.ANTIGEN, "1232", NOW - timedelta(minutes=30), result),
        status=RecordStatus.PENDING,
        created_at=NOW,
        updated_at=NOW,
        created_by="u",
    )


def ready(result: Result = Result.NEGATIVE) -> model.ScreeningRecord:
    r = record(result)
    delivery.schedule_send(r, NOW)
    return r


def test_setting_a_result_queues_a_final_message() -> None:
    r = ready()
    d = r.delivery
    assert (d.state, d.pending_message, d.next_attempt_at, d.attempts) == (
        DeliveryState.READY,
        MessageKind.FINAL,
        NOW,
        0,
    )
    assert r.status is RecordStatus.READY
    assert delivery.has_message_to_send(r)


def test_a_pending_record_without_result_stays_pending_and_out_of_the_queue() -> None:
    r = record()
    delivery.schedule_send(r, NOW)
    assert r.delivery.state is DeliveryState.PENDING and r.status is RecordStatus.PENDING
    assert not delivery.has_message_to_send(r)


def test_lease_then_acknowledgement() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW + timedelta(minutes=2))
    assert r.delivery.state is DeliveryState.LEASED and r.status is RecordStatus.SENT
    assert r.delivery.attempts == 1 and r.delivery.next_attempt_at == NOW + timedelta(minutes=2)
    delivery.acknowledge(r, NOW, "batch B")
    d = r.delivery
    assert d.state is DeliveryState.ACKNOWLEDGED and status_of(r) is RecordStatus.ACKNOWLEDGED
    assert d.acknowledged_version == 1 and d.acknowledged_at == NOW and d.pending_message is None
    assert not delivery.has_message_to_send(r)
    with pytest.raises(ValueError):
        delivery.lease(r, NOW, NOW)  # nothing to send any more


def test_a_rejection_keeps_the_reason_for_the_pharmacy_and_a_correction_resends() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW)
    delivery.reject(r, "x" * 2000, NOW)
    assert r.delivery.state is DeliveryState.REJECTED and r.status is RecordStatus.REJECTED
    assert r.delivery.last_error == "x" * delivery.REASON_LIMIT
    assert not delivery.has_message_to_send(r)
    r.version += 1
    delivery.schedule_send(r, NOW)
    # never acknowledged: still a final result, attempts and error reset
    assert r.delivery.pending_message is MessageKind.FINAL and r.delivery.attempts == 0
    assert r.delivery.last_error is None and r.status is RecordStatus.READY


def test_transport_failures_retry_with_backoff_then_dead_letter() -> None:
    r = ready()
    for attempt in (1, 2):
        delivery.lease(r, NOW, NOW)
        delivery.transport_failed(r, "timeout", NOW, POLICY, lambda: 0.0)
        assert r.delivery.state is DeliveryState.READY and r.status is RecordStatus.SENT
        assert r.delivery.next_attempt_at == NOW + delivery.backoff_delay(attempt, POLICY, lambda: 0.0)
    delivery.lease(r, NOW, NOW)
    delivery.transport_failed(r, "timeout", NOW, POLICY, lambda: 0.0)
    assert r.delivery.state is DeliveryState.FAILED and r.delivery.next_attempt_at is None
    assert r.status is RecordStatus.SENT  # outcome unknown: documented choice
    assert not delivery.has_message_to_send(r)
    delivery.redrive(r, NOW)
    assert state_of(r) is DeliveryState.READY and r.delivery.attempts == 0
    assert delivery.has_message_to_send(r)
    with pytest.raises(ValueError):
        delivery.redrive(r, NOW)


def test_a_change_after_acknowledgement_is_a_correction() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW)
    delivery.acknowledge(r, NOW)
    r.version += 1
    delivery.schedule_send(r, NOW)
    assert r.delivery.pending_message is MessageKind.CORRECTION and r.status is RecordStatus.READY


def test_a_cancellation_after_acknowledgement_is_a_withdrawal_before_it_nothing_is_sent() -> None:
    acked = ready()
    delivery.lease(acked, NOW, NOW)
    delivery.acknowledge(acked, NOW)
    delivery.schedule_withdrawal(acked, NOW)
    assert acked.delivery.pending_message is MessageKind.WITHDRAWAL and acked.status is RecordStatus.CANCELLED
    delivery.lease(acked, NOW, NOW)
    assert acked.status is RecordStatus.CANCELLED
    delivery.acknowledge(acked, NOW)
    assert acked.status is RecordStatus.CANCELLED and acked.delivery.state is DeliveryState.ACKNOWLEDGED

    never = ready()
    delivery.schedule_withdrawal(never, NOW)
    assert never.delivery.state is DeliveryState.CANCELLED and never.status is RecordStatus.CANCELLED
    assert not delivery.has_message_to_send(never)


def test_a_result_removed_after_acknowledgement_is_withdrawn_before_it_goes_back_to_pending() -> None:
    acked = ready()
    delivery.lease(acked, NOW, NOW)
    delivery.acknowledge(acked, NOW)
    acked.test = model.ScreeningTest(model.ScreeningKind.ANTIGEN, "1232", NOW, None)
    delivery.schedule_send(acked, NOW)
    assert acked.delivery.pending_message is MessageKind.WITHDRAWAL

    fresh = ready()
    fresh.test = model.ScreeningTest(model.ScreeningKind.ANTIGEN, "1232", NOW, None)
    delivery.schedule_send(fresh, NOW)
    assert fresh.delivery.state is DeliveryState.PENDING and fresh.status is RecordStatus.PENDING


def test_the_delivery_view() -> None:
    r = ready()
    delivery.lease(r, NOW, NOW + timedelta(minutes=2))
    delivery.transport_failed(r, "http 500", NOW, POLICY, lambda: 0.0)
    view = DELIVERY.render(r)
    assert view == {
        "id": "r1",
        "status": "sent",
        "state": "retrying",
        "pending_message": "F",
        "attempts": 1,
        "last_error": "http 500",
        "error_category": "server_error",
        "rejection": None,
        "acknowledged_at": None,
        "acknowledged_version": 0,
        "next_attempt_at": "2026-11-29T12:00:15Z",
        "first_sent_at": "2026-11-29T12:00:00Z",
        "history": [
            {"at": "2026-11-29T12:00:00Z", "event": "scheduled", "detail": "F"},
            {"at": "2026-11-29T12:00:00Z", "event": "retry", "detail": "http 500"},
        ],
    }


def test_history_is_bounded() -> None:
    r = ready()
    for _ in range(delivery.HISTORY_LIMIT + 10):
        delivery.lease(r, NOW, NOW)
        delivery.transport_failed(r, "timeout", NOW, delivery.BackoffPolicy(max_attempts=1000), lambda: 0.0)
    assert len(r.delivery.history) == delivery.HISTORY_LIMIT
