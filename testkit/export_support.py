"""Helpers for the export tests (no tests here): seeded records on moto, an exporter wired to a
fake SI-DEP receiver, and the ledger checks."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
from chalicelib.adapters.dynamodb.models import RecordModel
from chalicelib.adapters.dynamodb.records import apply_record, record_from_model
from chalicelib.adapters.sidep import Hl7BatchSender
from chalicelib.adapters.sidep.hl7 import message_control_id
from chalicelib.adapters.sidep.transport import HttpsTransport, TransportSettings
from chalicelib.domain import delivery
from chalicelib.domain.model import (
    DeliveryState,
    MessageKind,
    RecordStatus,
    ScreeningKind,
    ScreeningRecord,
    ScreeningResult,
    ScreeningTest,
)
from chalicelib.ports import ExportQueue, PersonalDataCipher, Queued
from chalicelib.services.export import ExportRun, ExportSettings, ExportSummary
from devtools.fake_sidep import FakeSidep
from testkit.fakes import FakeCipher, FakeJournal, FixedClock
from testkit.patients import patient

__test__ = False  # helpers only: nothing to collect here

FINESSES = ("750000010", "130000029")


def new_record(
    index: int, now: datetime, result: ScreeningResult | None = ScreeningResult.NEGATIVE
) -> ScreeningRecord:
    record = ScreeningRecord(
        id=str(uuid.UUID(int=index + 1)),
        finess=FINESSES[index % len(FINESSES)],
        patient=None,
        test=ScreeningTest(ScreeningKind.ANTIGEN, "1232", now - timedelta(minutes=20), result),
        status=RecordStatus.PENDING,
        created_at=now - timedelta(minutes=10),
        updated_at=now - timedelta(minutes=10),
        created_by="pharmacist-a",
    )
    if result is not None:
        delivery.schedule_send(record, now - timedelta(minutes=10))
    return record


def seed(
    count: int, clock: FixedClock, cipher: PersonalDataCipher | None = None, start: int = 0
) -> list[ScreeningRecord]:
    """`count` ready records, written in one batch (what the records service would have stored)."""
    cipher = cipher or FakeCipher()
    records = []
    with RecordModel.batch_write() as batch:
        for i in range(start, start + count):
            record = new_record(i, clock.now())
            item = RecordModel(record.finess, record.id)
            apply_record(item, record)
            item.personal = cipher.encrypt(patient(i), finess=record.finess, record_id=record.id)
            item.nir_index = f"idx-{i}"
            batch.save(item)
            records.append(record)
    return records


def load(record: ScreeningRecord) -> ScreeningRecord:
    return record_from_model(RecordModel.get(record.finess, record.id, consistent_read=True))[0]


def raw(record: ScreeningRecord) -> RecordModel:
    return RecordModel.get(record.finess, record.id, consistent_read=True)


def change(
    record: ScreeningRecord, clock: FixedClock, mutate: Callable[[ScreeningRecord, datetime], None]
) -> ScreeningRecord:
    """What the records service does on a change: read, mutate through the domain, bump the version,
    save with the expected version."""
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository

    repo = DynamoDbRecordRepository()
    current, _ = repo.get(record.finess, record.id)
    expected = current.version
    current.version += 1
    current.updated_at = clock.now()
    mutate(current, clock.now())
    repo.save(current, expected_version=expected)
    return current


def correct(
    record: ScreeningRecord, clock: FixedClock, result: ScreeningResult = ScreeningResult.POSITIVE
) -> ScreeningRecord:
    def mutate(r: ScreeningRecord, now: datetime) -> None:
        r.test = replace(r.test, result=result)
        delivery.schedule_send(r, now)

    return change(record, clock, mutate)


def sender_for(sidep: FakeSidep, read_timeout: float = 5.0) -> Hl7BatchSender:
    return Hl7BatchSender(
        HttpsTransport(
            TransportSettings(
                url=sidep.url,
                ca_file=sidep.ca_file,
                client_cert_file=sidep.client_cert_file,
                client_key_file=sidep.client_key_file,
                connect_timeout_seconds=2.0,
                read_timeout_seconds=read_timeout,
            )
        )
    )


class Exporter:
    """ExportRun wired to moto, a fake cipher, a fake journal and the fake receiver."""

    def __init__(
        self,
        sidep: FakeSidep,
        clock: FixedClock,
        *,
        batch_size: int = 25,
        read_timeout: float = 5.0,
        max_attempts: int = 8,
        cipher: Any = None,
    ) -> None:
        self.sidep = sidep
        self.clock = clock
        self.journal = FakeJournal()
        self.cipher = cipher or FakeCipher()
        self.sender: Any = sender_for(sidep, read_timeout)
        self.settings = ExportSettings(
            time_budget_seconds=600,
            batch_size=batch_size,
            lease_seconds=120,
            batch_reserve_seconds=0,
            backoff=delivery.BackoffPolicy(max_attempts=max_attempts),
        )
        # a DynamoDB client, or a test's wrapper of it (AtomicRequests, Counting): duck-typed
        self.client: Any = boto3.client("dynamodb", region_name="eu-west-3")

    def queue(self, owner: str | None = None, workers: int = 1) -> DynamoDbExportQueue:
        return DynamoDbExportQueue(
            self.client, owner=owner or f"test-{uuid.uuid4().hex[:8]}", workers=workers
        )

    def run(
        self, queue: ExportQueue | None = None, changed: Iterable[Queued] | None = None, **overrides: Any
    ) -> ExportSummary:
        kwargs: dict[str, Any] = {
            "queue": queue or self.queue(),
            "cipher": self.cipher,
            "sender": self.sender,
            "journal": self.journal,
            "clock": self.clock,
            "settings": self.settings,
            "rand": lambda: 0.5,
        }
        kwargs.update(overrides)
        return ExportRun(**kwargs).run(changed)

    def drain(self, rounds: int = 12, step_seconds: float = 3600) -> None:
        """Run until nothing is due, moving the clock past any backoff between runs."""
        for _ in range(rounds):
            summary = self.run()
            if summary.leased == 0:
                return
            self.clock.advance(seconds=step_seconds)


def assert_exactly_once(sidep: FakeSidep, records: list[ScreeningRecord]) -> None:
    """Every record acknowledged, its acknowledged message in the ledger, and per record at most one
    accepted message of each (version, kind): a duplicate arrival only raised a count."""
    ledger = sidep.ledger()
    messages = sidep.messages()
    per_record = Counter(m["record_id"] for m in messages.values())
    lost = []
    for record in records:
        current = load(record)
        if current.delivery.state is not DeliveryState.ACKNOWLEDGED:
            lost.append((record.id, current.delivery.state.value))
            continue
        acked_kind = _acked_kind(current)
        control_id = message_control_id(current.id, current.delivery.acknowledged_version, acked_kind)
        assert control_id in ledger, record.id
        assert messages[control_id]["record_id"] == record.id
        assert per_record[record.id] >= 1
    assert not lost, f"not acknowledged: {lost[:5]} ({len(lost)} in all)"
    assert len(ledger) == len(messages)
    assert set(per_record) <= {r.id for r in records}


def _acked_kind(record: ScreeningRecord) -> MessageKind:
    for event in reversed(record.delivery.history):
        if event.event == "acknowledged":
            for kind in MessageKind:
                if event.detail.endswith(f"kind {kind.value}"):
                    return kind
    return MessageKind.FINAL


def now_utc() -> datetime:
    return datetime.now(UTC)
