"""The purge never erases a record still owed a message to SI-DEP (a withdrawal that is a dead letter,
a correction SI-DEP rejected) on its after-ack day: else SI-DEP would keep a result we withdrew or
corrected, for good. It holds it until the hard cap, and the near-cap alarm fires a week before."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
from chalicelib.domain import delivery
from chalicelib.domain.model import DeliveryState, MessageKind
from chalicelib.domain.model import ScreeningResult as Result
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.services.retention import PurgeDeps, purge
from devtools.fake_sidep import FakeSidep
from testkit.export_support import Exporter, change, load, raw, seed
from testkit.fakes import FakeJournal, FixedClock, dynamodb_changes


def test_the_purge_never_erases_a_record_whose_withdrawal_is_a_dead_letter(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    (record,) = seed(1, clock)
    exporter = Exporter(sidep, clock, max_attempts=1)
    assert exporter.run().acknowledged == 1  # SI-DEP holds the final
    policy = RetentionPolicy()
    clock.advance(seconds=(policy.after_ack_days - 1) * 86400)
    change(record, clock, delivery.schedule_withdrawal)  # the pharmacist withdraws on day 29
    sidep.set_faults(down=True)
    exporter.run()  # SI-DEP down: with max_attempts=1 the withdrawal is a dead letter at once
    dead = load(record)
    assert dead.delivery.state is DeliveryState.FAILED
    assert dead.delivery.pending_message is MessageKind.WITHDRAWAL
    clock.advance(seconds=2 * 86400)  # day 31: after_ack erase day passed
    report = purge(
        PurgeDeps(DynamoDbRetentionStore(), FakeJournal(commit=dynamodb_changes), policy), clock.now()
    )
    # the withdrawal never reached SI-DEP, yet the record's data is erased, and redrive skips it:
    sidep.set_faults(down=False)
    exporter.queue().redrive(clock.now())
    exporter.drain()
    assert sidep.holdings()[record.id]["kind"] == "W", (report.to_json(), raw(record).personal is None)


def test_the_purge_never_erases_a_record_whose_correction_was_rejected(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    from testkit.export_support import correct

    (record,) = seed(1, clock)
    exporter = Exporter(sidep, clock)
    assert exporter.run().acknowledged == 1  # SI-DEP holds NEGATIVE
    policy = RetentionPolicy()
    clock.advance(seconds=(policy.after_ack_days - 1) * 86400)
    correct(record, clock, Result.POSITIVE)  # day 29: the pharmacist corrects to POSITIVE
    sidep.set_faults(ae_share=1.0)
    exporter.run()
    rejected = load(record)
    assert rejected.delivery.state is DeliveryState.REJECTED
    assert rejected.delivery.pending_message is MessageKind.CORRECTION
    clock.advance(seconds=2 * 86400)
    report = purge(
        PurgeDeps(DynamoDbRetentionStore(), FakeJournal(commit=dynamodb_changes), policy), clock.now()
    )
    # the pharmacy can no longer fix and resend the correction: its data is gone
    assert raw(record).personal is not None, report.to_json()


def test_a_held_record_raises_the_alarm_a_week_before_its_cap_and_goes_at_the_cap(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    (record,) = seed(1, clock)
    created = clock.now()
    exporter = Exporter(sidep, clock, max_attempts=1)
    assert exporter.run().acknowledged == 1
    policy = RetentionPolicy()
    deps = PurgeDeps(DynamoDbRetentionStore(), FakeJournal(commit=dynamodb_changes), policy)
    clock.advance(seconds=(policy.after_ack_days - 1) * 86400)
    change(record, clock, delivery.schedule_withdrawal)
    sidep.set_faults(down=True)
    exporter.run()  # the withdrawal is a dead letter and stays one
    clock.advance(seconds=2 * 86400)
    held = purge(deps, clock.now())
    assert held.held_owed == [record.id] and held.erased_count == 0
    # held in its cap's partition: a lookback of 30 days and an alarm that looks ahead still find it
    assert raw(record).erase_day == (created.date() + timedelta(days=policy.hard_cap_days)).isoformat()
    cap = created.replace(hour=3) + timedelta(days=policy.hard_cap_days)
    week_before = purge(deps, cap - timedelta(days=policy.alarm_days + 1), dry_run=True)
    assert week_before.unacknowledged_near_cap == [] and week_before.erased_count == 0
    assert purge(deps, cap - timedelta(days=policy.alarm_days)).unacknowledged_near_cap == [record.id]
    # the hard cap is the legal bound: the data goes even though the withdrawal never did
    at_cap = purge(deps, cap)
    assert at_cap.erased == {"after_ack": [], "hard_cap": [record.id]}
    assert raw(record).personal is None


def test_an_acknowledged_withdrawal_brings_the_erasure_back_to_its_after_ack_day(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    (record,) = seed(1, clock)
    exporter = Exporter(sidep, clock, max_attempts=1)
    assert exporter.run().acknowledged == 1
    policy = RetentionPolicy()
    deps = PurgeDeps(DynamoDbRetentionStore(), FakeJournal(commit=dynamodb_changes), policy)
    clock.advance(seconds=(policy.after_ack_days - 1) * 86400)
    change(record, clock, delivery.schedule_withdrawal)
    sidep.set_faults(down=True)
    exporter.run()
    clock.advance(seconds=2 * 86400)
    assert purge(deps, clock.now()).held_owed == [record.id]
    sidep.set_faults(down=False)
    exporter.queue().redrive(clock.now())
    exporter.drain()
    assert sidep.holdings()[record.id]["kind"] == "W"
    assert purge(deps, clock.now() + timedelta(days=policy.after_ack_days)).erased["after_ack"] == [record.id]


def test_the_after_ack_erasure_holds_at_the_write_that_nothing_is_owed(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # a message owed since the read, without a new version (as a redrive writes): the erasure fails
    from chalicelib.adapters.dynamodb.models import RecordModel
    from chalicelib.domain.retention import utc_day

    (record,) = seed(1, clock)
    assert Exporter(sidep, clock).run().acknowledged == 1
    policy = RetentionPolicy()
    store = DynamoDbRetentionStore()
    clock.advance(seconds=policy.after_ack_days * 86400)
    (facts,) = [f for f in store.on_erase_day(utc_day(clock.now())) if f.record_id == record.id]
    assert not facts.message_pending
    RecordModel(record.finess, record.id).update(actions=[RecordModel.pending_message.set("W")])
    assert store.erase_expired(facts, now=clock.now(), policy=policy) is False
    assert raw(record).personal is not None
