"""The export end to end on moto with the fake SI-DEP receiver (mutual TLS): happy path, state,
audit, corrections and withdrawals after acknowledgement, the time budget, re-drive."""

from __future__ import annotations

from chalicelib.domain import delivery
from chalicelib.domain.model import DeliveryState, MessageKind, RecordStatus
from chalicelib.domain.model import ScreeningResult as Result
from chalicelib.payloads import DELIVERY
from devtools.fake_sidep import FakeSidep
from testkit.export_support import (
    Exporter,
    assert_exactly_once,
    change,
    correct,
    load,
    raw,
    seed,
)
from testkit.fakes import FixedClock


def test_an_export_run_delivers_every_ready_record_once(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(60, clock)
    exporter = Exporter(sidep, clock, batch_size=25)

    summary = exporter.run()

    assert (summary.leased, summary.acknowledged, summary.batches) == (60, 60, 3)
    assert summary.failed == summary.rejected == summary.retried == 0
    assert_exactly_once(sidep, records)
    assert all(count == 1 for count in sidep.ledger().values())
    assert len(list(sidep.inbox())) == 3
    item = raw(records[0])
    assert item.export_queue is None and item.lease_owner is None and item.next_attempt_at is None
    assert item.status == RecordStatus.ACKNOWLEDGED.value and item.acknowledged_version == 1
    # nothing left: a second run sends nothing
    assert exporter.run().leased == 0


def test_parallel_writes_give_the_same_result(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(40, clock)
    exporter = Exporter(sidep, clock, batch_size=20)
    summary = exporter.run(queue=exporter.queue(workers=4))
    assert (summary.leased, summary.acknowledged) == (40, 40)
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {1}


def test_each_batch_is_journaled_once_per_pharmacy_with_its_record_ids(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(10, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    exporter.run()
    events = exporter.journal.events
    assert [(e.action, e.outcome) for e in events] == [("export", "success")] * 2
    assert {e.finess for e in events} == {r.finess for r in records}
    assert sorted(i for e in events for i in e.record_ids) == sorted(r.id for r in records)
    assert all(e.request_id and e.role == "system" for e in events)


def test_the_delivery_view_shows_state_attempts_and_acknowledgement(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    [record] = seed(1, clock)
    Exporter(sidep, clock).run()
    view = DELIVERY.render(load(record))
    assert view["state"] == "acknowledged" and view["status"] == "acknowledged"
    assert view["attempts"] == 1 and view["last_error"] is None
    assert view["acknowledged_at"] == "2026-11-29T12:00:00Z"
    assert [h["event"] for h in view["history"]] == ["scheduled", "acknowledged"]


def test_a_change_after_acknowledgement_sends_a_correction_and_a_cancellation_a_withdrawal(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(4, clock)
    exporter = Exporter(sidep, clock)
    exporter.run()
    clock.advance(minutes=5)
    corrected = correct(records[0], clock, Result.POSITIVE)
    assert corrected.delivery.pending_message is MessageKind.CORRECTION
    withdrawn = change(records[1], clock, delivery.schedule_withdrawal)
    assert withdrawn.delivery.pending_message is MessageKind.WITHDRAWAL

    summary = exporter.run()

    assert summary.acknowledged == 2
    kinds = {(m["record_id"], m["kind"]) for m in sidep.messages().values()}
    assert (records[0].id, "C") in kinds and (records[1].id, "W") in kinds
    assert (records[0].id, "F") in kinds and (records[1].id, "F") in kinds
    after_c, after_w = load(records[0]), load(records[1])
    assert after_c.status is RecordStatus.ACKNOWLEDGED and after_c.delivery.acknowledged_version == 2
    assert after_w.status is RecordStatus.CANCELLED and after_w.delivery.state is DeliveryState.ACKNOWLEDGED
    assert_exactly_once(sidep, records)


def test_a_change_while_in_flight_is_not_overwritten_and_goes_out_as_a_correction(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    [record] = seed(1, clock)
    exporter = Exporter(sidep, clock)
    real_sender = exporter.sender

    class ChangingSender:
        def send(self, items, now):  # type: ignore[no-untyped-def]
            report = real_sender.send(items, now)
            correct(record, clock, Result.POSITIVE)  # the pharmacist edits during the send
            return report

    summary = exporter.run(sender=ChangingSender())
    assert summary.superseded == 1
    current = load(record)
    assert current.version == 2 and current.test.result is Result.POSITIVE
    assert current.delivery.acknowledged_version == 1
    assert current.delivery.pending_message is MessageKind.CORRECTION
    assert raw(record).lease_owner is None

    exporter.run()
    final = load(record)
    assert final.delivery.state is DeliveryState.ACKNOWLEDGED and final.delivery.acknowledged_version == 2
    assert sorted(m["kind"] for m in sidep.messages().values()) == ["C", "F"]


def test_the_run_stops_taking_batches_when_its_time_budget_is_spent(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    seed(30, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    ticks = iter(range(1000))
    # each monotonic() call is one second later; budget 2 s: the first batch only
    from dataclasses import replace

    summary = exporter.run(
        settings=replace(exporter.settings, time_budget_seconds=2), monotonic=lambda: float(next(ticks))
    )
    assert summary.stopped_by_budget and summary.batches == 1 and summary.leased == 10
    assert exporter.run().leased == 20  # the rest on the next run


def test_dead_letters_are_redriven_by_the_operator(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(5, clock)
    exporter = Exporter(sidep, clock, max_attempts=2)
    sidep.set_faults(http500=True)
    exporter.run()
    clock.advance(hours=2)
    summary = exporter.run()
    assert summary.failed == 5
    failed = load(records[0])
    assert failed.delivery.state is DeliveryState.FAILED and failed.status is RecordStatus.SENT
    assert failed.delivery.last_error == "http 500" and failed.delivery.attempts == 2
    assert raw(records[0]).export_queue is None
    assert exporter.run().leased == 0

    sidep.clear_faults()
    assert exporter.queue().redrive(clock.now()) == 5
    exporter.run()
    assert_exactly_once(sidep, records)
