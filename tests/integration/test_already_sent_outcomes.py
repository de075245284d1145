"""The outcome writer and the purge under "already sent" (chalicelib/domain/delivery.py
`already_sent`): an acknowledgement landing on a record withdrawn meanwhile queues a withdrawal; the
purge leaves a record whose correction or withdrawal has yet to reach SI-DEP."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
from chalicelib.adapters.sidep import Hl7BatchSender
from chalicelib.domain import delivery
from chalicelib.domain.model import DeliveryState, MessageKind, RecordStatus
from chalicelib.domain.retention import RetentionPolicy, due_reason, utc_day
from devtools.fake_sidep import FakeSidep, InProcessTransport
from testkit.export_support import Exporter, change, load, seed
from testkit.fakes import FixedClock


def test_an_acknowledgement_arriving_after_the_withdrawal_was_acknowledged_queues_another(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    (record,) = seed(1, clock)
    exporter = Exporter(sidep, clock)
    transport = InProcessTransport(sidep.receiver)
    exporter.sender = Hl7BatchSender(transport)

    def meanwhile() -> None:
        # Run A's final is delayed in the network past its lease: the pharmacist withdraws, and
        # run B sends the withdrawal, acknowledged; only then does A's final reach SI-DEP.
        change(record, clock, delivery.schedule_withdrawal)
        clock.advance(seconds=exporter.settings.lease_seconds + 1)
        assert exporter.run().acknowledged == 1
        assert sidep.holdings()[record.id]["kind"] == "W"

    transport.arrives_late = True
    transport.while_in_flight = meanwhile
    summary = exporter.run()  # run A: its AA for the final lands on a withdrawn record
    assert summary.superseded == 1
    assert sidep.holdings()[record.id]["kind"] == "F"  # SI-DEP holds the result again

    queued = load(record)
    assert queued.status is RecordStatus.CANCELLED
    assert queued.delivery.pending_message is MessageKind.WITHDRAWAL
    assert queued.version == 3  # a new message, not a duplicate of the acknowledged withdrawal
    exporter.drain()
    assert sidep.holdings()[record.id]["kind"] == "W"
    done = load(record)
    assert done.delivery.state is DeliveryState.ACKNOWLEDGED and done.status is RecordStatus.CANCELLED


def test_the_purge_waits_for_a_pending_correction_before_erasing_after_acknowledgement(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    from testkit.export_support import correct

    first, second = seed(2, clock)
    exporter = Exporter(sidep, clock)
    exporter.run()
    policy = RetentionPolicy()
    correct(first, clock)  # a correction waits (SI-DEP down, say)
    later = clock.now() + timedelta(days=policy.after_ack_days + 1)
    store = DynamoDbRetentionStore()
    facts = {f.record_id: f for day in _days(clock.now(), later) for f in store.on_erase_day(day)}
    assert due_reason(facts[second.id], utc_day(later), policy) is not None
    # the first release erased it, and SI-DEP kept the result the pharmacy had corrected
    assert due_reason(facts[first.id], utc_day(later), policy) is None
    assert facts[first.id].already_sent and facts[first.id].message_pending


def _days(start: datetime, end: datetime) -> list[date]:
    day = utc_day(start)
    days = []
    while day <= utc_day(end):
        days.append(day)
        day += timedelta(days=1)
    return days
