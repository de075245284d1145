"""The retention purge on moto, end to end with a controllable clock: records created through the
records service, acknowledged through the real export adapter, erased by the purge on the right day
and not before; the dry run changes nothing; every erasure is in the audit journal; afterwards no
route or raw read finds the patient's personal data."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
from chalicelib.adapters.dynamodb.models import AuditEventModel, RecordModel
from chalicelib.config import get_settings
from chalicelib.domain.model import Principal, Role, ScreeningRecord
from chalicelib.ports import Outbound, Receipt, RequestMeta, SendReport
from chalicelib.services import patients, records
from chalicelib.services.call import Call
from chalicelib.services.export import ExportRun, ExportSettings
from chalicelib.services.retention import purge
from testkit.fakes import FixedClock, create_command, patient_query, result_command
from testkit.patients import PATIENTS, personal_needles, screening_body

FINESS = "750000010"
D0 = date(2026, 11, 29)
PHARMACIST = Principal("pharmacist-a", Role.PHARMACIST, FINESS)
META = RequestMeta(request_id="test")


class AcceptAll:
    """A SI-DEP that acknowledges every message."""

    def send(self, items: Sequence[Outbound], now: datetime) -> SendReport:
        return SendReport(
            batch_id=uuid.uuid4().hex,
            receipts={i.record.id: Receipt(accepted=True, message_id=uuid.uuid4().hex) for i in items},
        )


class Pharmacy:
    def __init__(self) -> None:
        self.clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
        self.container = bootstrap.build(get_settings(), clock=self.clock)
        self.client = boto3.client("dynamodb", region_name="eu-west-3")

    def at(self, day_offset: int, hour: int = 3) -> datetime:
        self.clock.moment = datetime.combine(
            D0 + timedelta(days=day_offset), datetime.min.time(), UTC
        ).replace(hour=hour)
        return self.clock.moment

    def create(self, patient: int, result: str | None = "negative", **test: str) -> ScreeningRecord:
        body = screening_body(patient, result)
        body["test"].update(test)  # captured_at: entered on a device offline
        record, _ = records.create_record(
            self.container.records, Call(PHARMACIST, META), create_command(self.container.records, body)
        )
        return record

    def set_result(self, record: ScreeningRecord, result: str) -> None:
        records.set_result(
            self.container.records, Call(PHARMACIST, META), result_command(record.id, {"result": result})
        )

    def export(self) -> None:
        ExportRun(
            queue=DynamoDbExportQueue(self.client, owner=f"test-{uuid.uuid4().hex[:6]}"),
            cipher=self.container.records.cipher,
            sender=AcceptAll(),
            journal=self.container.journal,
            clock=self.clock,
            settings=ExportSettings(time_budget_seconds=600, batch_reserve_seconds=0),
        ).run()

    def purge(self, dry_run: bool = False) -> Any:
        return purge(self.container.purge, self.clock.now(), dry_run=dry_run)

    def search(self, patient: int) -> dict[str, Any]:
        return patients.export_patient(
            self.container.patients, Call(PHARMACIST, META), patient_query({"nir": PATIENTS[patient]["nir"]})
        )


def raw_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="eu-west-3")
    return client.scan(TableName=str(RecordModel.Meta.table_name), ConsistentRead=True)["Items"]


def erase_events() -> list[dict[str, Any]]:
    return [e.event for e in AuditEventModel.scan() if e.event.get("action") == "erase"]


@pytest.fixture
def pharmacy(aws: dict[str, str]) -> Pharmacy:
    return Pharmacy()


def test_the_purge_erases_exactly_what_the_policy_says_on_the_right_day(pharmacy: Pharmacy) -> None:
    acked = pharmacy.create(0)  # acknowledged on D0: erased on D0 + 30
    never = pharmacy.create(1, result=None)  # never sent: erased at the hard cap, D0 + 90
    late = pharmacy.create(2, result=None)  # acknowledged on D0 + 70: erased at the cap too
    pharmacy.export()
    assert RecordModel.get(FINESS, acked.id).erase_day == "2026-12-29"
    assert RecordModel.get(FINESS, never.id).erase_day == "2027-02-27"

    pharmacy.at(29, hour=22)  # 23:00 in Paris, the pharmacy's zone: still its day 29
    assert pharmacy.purge().erased_count == 0
    pharmacy.at(30, hour=0)
    report = pharmacy.purge()
    assert report.erased == {"after_ack": [acked.id], "hard_cap": []}

    pharmacy.at(70, hour=12)
    pharmacy.set_result(late, "positive")
    pharmacy.export()
    assert RecordModel.get(FINESS, late.id).erase_day == "2027-02-27"  # min(cap, D0 + 100)

    pharmacy.at(82)
    assert pharmacy.purge().unacknowledged_near_cap == []
    pharmacy.at(83)
    assert pharmacy.purge().unacknowledged_near_cap == [never.id]  # the alarm, a week ahead
    pharmacy.at(89, hour=22)  # 23:00 in Paris
    assert pharmacy.purge().erased_count == 0
    pharmacy.at(90)
    report = pharmacy.purge()
    assert report.erased == {"after_ack": [], "hard_cap": sorted([never.id, late.id])}
    assert pharmacy.purge().erased_count == 0  # idempotent

    # every erasure is in the journal, once, on the pharmacy's chain, by the purge
    events = erase_events()
    assert sorted((e["record_ids"][0], e["reason"]) for e in events) == sorted(
        [(acked.id, "after_ack"), (never.id, "hard_cap"), (late.id, "hard_cap")]
    )
    assert {(e["actor"], e["role"], e["finess"], e["outcome"]) for e in events} == {
        ("system:purge", "system", FINESS, "success")
    }


def test_the_dry_run_changes_nothing_and_reports_the_same(pharmacy: Pharmacy) -> None:
    created = [pharmacy.create(i % 4, result=None) for i in range(3)]
    pharmacy.at(90)
    before_items, before_events = raw_items(), AuditEventModel.count()
    dry = pharmacy.purge(dry_run=True)
    assert raw_items() == before_items
    assert AuditEventModel.count() == before_events
    real = pharmacy.purge()
    assert dry.to_json()["erased"] == real.to_json()["erased"]
    assert sorted(dry.erased["hard_cap"]) == sorted(r.id for r in created)


def test_after_erasure_no_personal_value_can_be_read_or_found(pharmacy: Pharmacy) -> None:
    record = pharmacy.create(0, captured_at="2026-11-29T10:20:31+01:00")
    assert RecordModel.get(FINESS, record.id).captured_at == "2026-11-29T10:20:31+01:00"
    other = pharmacy.create(1)
    pharmacy.export()
    nir_index = RecordModel.get(FINESS, record.id).nir_index
    assert nir_index and pharmacy.search(0)["records"]

    pharmacy.at(30)
    assert pharmacy.purge().erased_count == 2

    # the API's routes: the record is a skeleton, the patient is not found
    read = records.read_record(pharmacy.container.records, Call(PHARMACIST, META), record.id)
    assert read.patient is None and read.test.result is not None and read.finess == FINESS
    assert pharmacy.search(0)["records"] == []
    assert pharmacy.container.records.repository.find_by_nir_index(FINESS, nir_index) == []
    # the raw table: no blob, no blind index, no erase day, no time of day, nothing in clear
    items = raw_items()
    assert {i["record_id"]["S"] for i in items} == {record.id, other.id}
    text = repr(items)
    assert nir_index not in text
    for needle in personal_needles():
        assert needle not in text
    for item in items:
        assert not {"personal", "nir_index", "erase_day", "delivery_history", "export_queue"} & set(item)
        assert "captured_at" not in item  # the device's time to the second goes with the rest
        assert item["erased_at"]["S"].startswith("2026-12-29")
        assert item["sampled_at"]["S"] == "2026-11-29T00:00:00+01:00"
        assert item["created_at"]["S"] == "2026-11-29T00:00:00Z"
        # the skeleton lives a year, then DynamoDB TTL deletes it
        assert int(item["expires_at"]["N"]) == int(datetime(2027, 11, 29, tzinfo=UTC).timestamp())
    # an erased record can no longer change (nothing could be sent for it)
    from chalicelib.domain.errors import Conflict

    with pytest.raises(Conflict, match="erased"):
        pharmacy.set_result(record, "positive")


def test_a_live_export_lease_defers_the_erasure(pharmacy: Pharmacy) -> None:
    record = pharmacy.create(0, result=None)
    pharmacy.at(90)
    lease_until = pharmacy.clock.now() + timedelta(minutes=2)
    RecordModel(FINESS, record.id).update(
        actions=[RecordModel.lease_expires_at.set(lease_until.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    )
    report = pharmacy.purge()
    assert report.skipped_leased == [record.id] and report.erased_count == 0
    assert RecordModel.get(FINESS, record.id).personal is not None
    pharmacy.clock.advance(days=1)
    assert pharmacy.purge().erased["hard_cap"] == [record.id]


def test_redrive_leaves_erased_dead_letters_alone(pharmacy: Pharmacy) -> None:
    record = pharmacy.create(0, result=None)
    RecordModel(FINESS, record.id).update(actions=[RecordModel.delivery_state.set("failed")])
    pharmacy.at(90)
    assert pharmacy.purge().erased_count == 1
    assert DynamoDbExportQueue(pharmacy.client, owner="redrive").redrive(pharmacy.clock.now()) == 0
    assert RecordModel.get(FINESS, record.id).export_queue is None
