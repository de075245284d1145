"""The export run on in-memory ports: each due record is leased, sent and settled once, journaled per
pharmacy; a receiver down loses nothing; a record changed before its lease is not sent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from chalicelib.domain import delivery
from chalicelib.domain.model import (
    DeliveryState,
    RecordStatus,
    ScreeningKind,
    ScreeningRecord,
    ScreeningResult,
    ScreeningTest,
)
from chalicelib.ports import Outbound, SendReport
from chalicelib.services.export import Exporter, ExportRun, ExportSettings, ExportSummary
from testkit.fakes import (
    FakeCipher,
    FakeExportQueue,
    FakeExportRunQueue,
    FakeJournal,
    FakeSender,
    FixedClock,
)
from testkit.patients import patient

FINESSES = ("750000010", "130000029")
NEGATIVE = ScreeningResult.NEGATIVE


class World:
    def __init__(self, count: int) -> None:
        self.clock, self.cipher, self.journal = FixedClock(), FakeCipher(), FakeJournal()
        self.queue, self.sender = FakeExportQueue(), FakeSender()
        for index in range(count):
            now = self.clock.now()
            record = ScreeningRecord(
                id=str(uuid.UUID(int=index + 1)),
                finess=FINESSES[index % 2],
                patient=None,
                test=ScreeningTest(
                    ScreeningKind.ANTIGEN, "1232", now - timedelta(minutes=20), ScreeningResult.NEGATIVE
                ),
                status=RecordStatus.PENDING,
                created_at=now - timedelta(minutes=10, seconds=-index),
                updated_at=now - timedelta(minutes=10),
                created_by="pharmacist-a",
            )
            delivery.schedule_send(record, now - timedelta(minutes=10))
            blob = self.cipher.encrypt(patient(index), finess=record.finess, record_id=record.id)
            self.queue.put(record, blob)

    def run(self) -> ExportSummary:
        return ExportRun(
            queue=self.queue,
            cipher=self.cipher,
            sender=self.sender,
            journal=self.journal,
            clock=self.clock,
            settings=ExportSettings(batch_size=2),
            rand=lambda: 0.5,
        ).run()

    def states(self) -> list[DeliveryState]:
        return [self.queue.record(rid).delivery.state for rid in sorted(self.queue.records)]


def test_every_due_record_is_sent_once_acknowledged_and_journaled_for_its_pharmacy() -> None:
    world = World(5)
    summary = world.run()
    assert summary.sent == summary.acknowledged == 5 and summary.batches == 3
    assert sorted(rid for batch in world.sender.sent for rid in batch) == sorted(world.queue.records)
    assert world.states() == [DeliveryState.ACKNOWLEDGED] * 5
    exported = [e for e in world.journal.events if e.action == "export"]
    assert {e.finess for e in exported} == set(FINESSES)
    assert sorted(rid for e in exported for rid in e.record_ids) == sorted(world.queue.records)
    assert world.run().sent == 0  # nothing left: a second run sends nothing again


def test_a_receiver_down_loses_nothing_and_the_records_wait_with_backoff() -> None:
    world = World(3)
    world.sender.down = True
    summary = world.run()
    assert summary.retried == 3 and summary.acknowledged == 0
    assert world.states() == [DeliveryState.READY] * 3
    waits = [world.queue.record(r).delivery.next_attempt_at for r in world.queue.records]
    assert all(at is not None and at > world.clock.now() for at in waits)
    world.sender.down = False
    assert world.run().sent == 0  # not yet due
    world.clock.advance(hours=2)
    assert world.run().acknowledged == 3


def test_a_record_changed_between_its_read_and_its_lease_is_not_sent() -> None:
    world = World(2)
    first = sorted(world.queue.records)[0]

    def pharmacist_corrects() -> None:
        world.queue.record(first).version += 1
        world.queue.before_lease = lambda: None

    world.queue.before_lease = pharmacist_corrects
    summary = world.run()
    assert first not in [rid for batch in world.sender.sent for rid in batch]
    assert summary.skipped == 1 and summary.acknowledged == 1
    assert world.run().acknowledged == 1  # the next run sends the record as it now is
    assert world.queue.record(first).delivery.acknowledged_version == 2


class AnswersForOthers(FakeSender):
    """A receiver that answers every batch with acknowledgements naming none of its messages."""

    def send(self, items: Sequence[Outbound], now: datetime) -> SendReport:
        self.sent.append([item.record.id for item in items])
        return SendReport(batch_id=f"b-{len(self.sent)}", receipts={})


def test_a_batch_answered_without_one_of_its_acknowledgements_counts_as_a_failed_batch() -> None:
    # SI-DEP answered, but for none of our messages: nothing reached it as far as we know. The run
    # said "answered" (the failing spell ended, no ExportBatchesFailed, no SidepFailingAlarm) and
    # status advised `make retry`, which resends into the same silence
    world = World(2)
    world.sender = AnswersForOthers()
    summary = world.run()
    assert summary.retried == 2
    assert summary.batches_failed == 1 and summary.last_answered_batch == ""
    assert "acknowledgement" in summary.last_error


class ExporterWorld(World):
    """The process's exporter over World's records: one queue per run, a sender that may not be ready."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.run_queue = FakeExportRunQueue(records=self.queue.records)
        self.queue = self.run_queue
        self.ready_checks = 0
        self.certificate_missing = False

    def sender_ready(self) -> None:
        self.ready_checks += 1
        if self.certificate_missing:
            raise RuntimeError("no certificate")

    def exporter(self) -> Exporter:
        return Exporter(
            queues=self.run_queue,
            cipher=self.cipher,
            sender=self.sender,
            journal=self.journal,
            clock=self.clock,
            settings=ExportSettings(batch_size=2),
            sender_ready=self.sender_ready,
        )


def test_the_exporter_runs_each_time_under_a_run_id_of_its_own_over_the_shards_it_is_given() -> None:
    world = ExporterWorld(3)
    exporter = world.exporter()
    assert exporter.run(None, shards=["q1"]).acknowledged == 3
    assert exporter.run(60.0).sent == 0
    (first, shards), (second, _) = world.run_queue.owners
    assert shards == ["q1"] and first != second and first.startswith("export-")


def test_the_exporters_trigger_run_sends_only_the_records_its_stream_batch_names() -> None:
    world = ExporterWorld(3)
    named = sorted(world.queue.records)[0]
    summary = world.exporter().run(60.0, changed=[{"record_id": named}])
    assert summary.acknowledged == 1 and world.sender.sent == [[named]]


def test_a_stream_batch_with_nothing_due_costs_no_certificate_read_and_no_lease() -> None:
    world = ExporterWorld(2)
    world.certificate_missing = True
    assert world.exporter().run(60.0, changed=[{"record_id": "not-a-record"}]) == ExportSummary()
    assert world.ready_checks == 0 and world.sender.sent == []


def test_an_exporter_without_its_certificate_fails_before_any_record_is_leased() -> None:
    world = ExporterWorld(2)
    world.certificate_missing = True
    with pytest.raises(RuntimeError):
        world.exporter().run(60.0)
    assert world.queue.leased_by_us == set()
    assert world.states() == [DeliveryState.READY] * 2


def test_the_exporters_time_budget_is_the_runs_when_given_else_its_settings() -> None:
    world = ExporterWorld(4)
    exporter = world.exporter()
    # no time for one batch (its reserve): the run stops before its first lease
    summary = exporter.run(0.0)
    assert summary.stopped_by_budget and summary.leased == 0
    assert exporter.run(None).acknowledged == 4  # the settings' budget
