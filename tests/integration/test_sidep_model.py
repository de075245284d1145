"""Model-based test (hypothesis): whatever the interleaving, once things settle, SI-DEP's view
equals ours (chalicelib/domain/delivery.py `already_sent`).

Random sequences of: create, set a result, cancel, withdraw, a patient's erasure, export runs
whose answers are lost (SI-DEP processed the batch; we never saw the ACK), refused (down) or AE,
pharmacist actions while a batch is in flight, time passing (backoff, leases), dead-letter
redrive and the purge; and, while a sweeper's or a trigger's batch is in flight: another sweeper,
the trigger (over images read before the batch left: stale ones), either after the batch's lease
expired (the same messages leave twice), a redrive, a purge past the retention hard cap; and an
insider with the export role's rights removing a record's `first_sent_at` (IAM cannot tell that
REMOVE from the SET the role needs). The services and adapters are the real ones on moto; SI-DEP is the fake
receiver's `Receiver` in process (`InProcessTransport`: the same parsing, ledger and fault
semantics as the HTTPS server, without TLS, so that an example costs milliseconds, not seconds).

After quiescence (faults cleared, time moved past every backoff, dead letters redriven, rejected
records withdrawn by their pharmacist), for every record:
- acknowledged here  ⇔ SI-DEP's last accepted message for it is the F/C of our acknowledged version,
  carrying our result;
- cancelled here     ⇒ SI-DEP holds nothing of it, or its last message is a withdrawal (W);
- pending here       ⇒ SI-DEP holds nothing of it;
- a successful cancel (204) or erasure ⇒ SI-DEP never received anything for it.
After every step:
- nothing cancelled (204) or erased by the patient's request ever reached SI-DEP;
- anything SI-DEP received has its write-once sent marker, and reads as already sent (the
  record's `first_sent_at`, or the marker's where an insider removed it);
- a marker, once there, never goes and never changes;
- a record erased at the hard cap is out of the export queue and SI-DEP receives no new message
  for it (it is left out of the agreement: its data is gone, whatever SI-DEP holds).

`make test` runs MODEL_MAX_EXAMPLES (default 50) examples, derandomized; `make fuzz` many more
(MODEL_EXAMPLES, 1000), random (MODEL_SEED set).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
from chalicelib.adapters.dynamodb.models import RecordModel, SentMarkerModel
from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
from chalicelib.adapters.sidep import Hl7BatchSender
from chalicelib.adapters.sidep.hl7 import RESULT_CODES, message_control_id
from chalicelib.config import get_settings
from chalicelib.domain import delivery
from chalicelib.domain.errors import Conflict
from chalicelib.domain.model import MessageKind, Principal, RecordStatus, Role, ScreeningRecord
from chalicelib.ports import RequestMeta
from chalicelib.services import patients, records
from chalicelib.services.call import Call
from chalicelib.services.export import ExportRun, ExportSettings
from chalicelib.services.retention import PurgeDeps, purge, retention_policy
from devtools.fake_sidep import Faults, InProcessTransport, Receiver
from testkit.fakes import (
    FakeCipher,
    FakeIdempotency,
    FakeIndex,
    FakeJournal,
    FixedClock,
    create_command,
    dynamodb_changes,
    patient_query,
    result_command,
)
from testkit.patients import PATIENTS, screening_body

MAX_EXAMPLES = int(os.environ.get("MODEL_MAX_EXAMPLES", "50"))
PHARMACIST = Principal(username="pharmacist-a", role=Role.PHARMACIST, finess="750000010")
META = RequestMeta(request_id="model", source_ip="127.0.0.1")
RESULTS = st.sampled_from([None, "positive", "negative", "invalid"])
FAULTS = st.sampled_from(["none", "none", "lost", "down", "ae"])
MAX_ATTEMPTS = 3
LEASE_SECONDS = 120
# What runs while a batch is at SI-DEP (after SI-DEP processed it, before its answer comes back).
MEANWHILE = st.sampled_from(
    [
        "sweeper",
        "trigger",
        "sweeper after the lease expired",
        "trigger after the lease expired",
        "redrive",
        "purge past the hard cap",
        "insider removes first_sent_at",
    ]
)
EXAMPLES_RUN = [0]  # reported by the test (the closing note's interleavings count)


def _faults(name: str) -> Faults:
    return {
        "none": Faults(),
        "lost": Faults(slow_seconds=1.0),  # processed by SI-DEP, the answer never comes back
        "down": Faults(down=True),
        "ae": Faults(ae_share=0.5),
    }[name]


class SidepAgreement(RuleBasedStateMachine):
    created = Bundle("created")

    def __init__(self) -> None:
        super().__init__()
        EXAMPLES_RUN[0] += 1
        self.clock = FixedClock()
        base = get_settings()
        # a long hard cap: the model's purges jump months ahead, and the hard cap (which erases
        # whatever the delivery state) is the law, not a delivery guarantee
        self.settings = replace(base, retention_hard_cap_days=3650, skeleton_retention_days=4000)
        self.policy = retention_policy(self.settings)
        self.journal = FakeJournal(commit=dynamodb_changes)
        self.cipher = FakeCipher()
        self.index = FakeIndex()
        repository = DynamoDbRecordRepository(self.policy)
        self.records = records.RecordsDeps(
            repository=repository,
            cipher=self.cipher,
            index=self.index,
            idempotency=FakeIdempotency(),
            journal=self.journal,
            clock=self.clock,
            settings=self.settings,
        )
        self.store = DynamoDbRetentionStore()
        self.patients = patients.PatientsDeps(
            repository=repository,
            cipher=self.cipher,
            index=self.index,
            store=self.store,
            journal=self.journal,
            clock=self.clock,
            policy=self.policy,
        )
        self.client = boto3.client("dynamodb", region_name="eu-west-3")
        self.receiver = Receiver(Path(STATE_DIR[0]) / uuid.uuid4().hex)
        self.transport = InProcessTransport(self.receiver)
        self.ids: list[str] = []
        self.never_sent: set[str] = set()  # cancelled (204) or erased: SI-DEP must never get them
        self.markers: dict[str, str] = {}  # record id -> its sent marker's time, once seen
        self.capped: dict[str, int] = {}  # erased at the hard cap -> messages SI-DEP had for it then
        _empty_tables(self.client)

    # what the pharmacist does -----------------------------------------------------------------
    def _call(self, action: Any, *args: Any) -> Any:
        try:
            return action(self.records, Call(PHARMACIST, META), *args)
        except Conflict:
            return None  # refused: cancelled, erased, changed meanwhile, already sent...

    @rule(target=created, patient=st.integers(0, 2), result=RESULTS)
    def create(self, patient: int, result: str | None) -> str:
        sampled = (self.clock.now() - timedelta(minutes=10)).isoformat()
        record, _ = records.create_record(
            self.records,
            Call(PHARMACIST, META),
            create_command(self.records, screening_body(patient, result, sampled_at=sampled)),
        )
        self.ids.append(record.id)
        return record.id

    @rule(record_id=created, result=RESULTS)
    def set_result(self, record_id: str, result: str | None) -> None:
        self._call(records.set_result, result_command(record_id, {"result": result}))

    @rule(record_id=created)
    def cancel(self, record_id: str) -> None:
        try:
            records.cancel_record(self.records, Call(PHARMACIST, META), record_id)
        except Conflict:
            return  # already sent (withdraw instead), erased, or changed meanwhile
        self.never_sent.add(record_id)

    @rule(record_id=created)
    def withdraw(self, record_id: str) -> None:
        self._call(records.withdraw_record, record_id)

    @rule(patient=st.integers(0, 2))
    def erase(self, patient: int) -> None:
        try:
            nir = {"nir": PATIENTS[patient]["nir"]}
            answer = patients.erase_patient(self.patients, Call(PHARMACIST, META), patient_query(nir))
        except Conflict:
            return
        self.never_sent.update(answer["erased"])

    # what the exporter and SI-DEP do ------------------------------------------------------------
    def _export(self, faults: Faults, images: list[dict[str, Any]] | None = None) -> None:
        """A sweeper's run, or with `images` the trigger's (over those new images)."""
        self.transport.faults = faults
        queue = DynamoDbExportQueue(self.client, owner=f"run-{uuid.uuid4().hex[:6]}", retention=self.policy)
        changed = queue.ready_in(images, self.clock.now()) if images is not None else None
        ExportRun(
            queue=queue,
            cipher=self.cipher,
            sender=Hl7BatchSender(self.transport),
            journal=self.journal,
            clock=self.clock,
            settings=ExportSettings(
                time_budget_seconds=600,
                batch_size=4,
                lease_seconds=LEASE_SECONDS,
                batch_reserve_seconds=0,
                backoff=delivery.BackoffPolicy(base_seconds=10, cap_seconds=60, max_attempts=MAX_ATTEMPTS),
            ),
            rand=lambda: 0.5,
        ).run(changed)

    def _images(self) -> list[dict[str, Any]]:
        """The records' items as the stream's new images would carry them."""
        table = str(RecordModel.Meta.table_name)
        return list(self.client.scan(TableName=table, ConsistentRead=True)["Items"])

    @rule(fault=FAULTS)
    def export(self, fault: str) -> None:
        self._export(_faults(fault))

    @rule(
        fault=FAULTS,
        record_id=created,
        action=st.sampled_from(["set_result", "cancel", "withdraw"]),
        result=RESULTS,
    )
    def export_while_the_pharmacist_acts(
        self, fault: str, record_id: str, action: str, result: str | None
    ) -> None:
        def meanwhile() -> None:
            if action == "set_result":
                self.set_result(record_id, result)
            elif action == "cancel":
                self.cancel(record_id)
            else:
                self.withdraw(record_id)

        self.transport.while_in_flight = meanwhile
        self._export(_faults(fault))
        self.transport.while_in_flight = None

    @rule(fault=FAULTS, outer=st.sampled_from(["sweeper", "trigger"]), meanwhile=MEANWHILE)
    def two_things_at_once(self, fault: str, outer: str, meanwhile: str) -> None:
        images = self._images()  # read before the batch leaves: stale by the time the trigger runs

        def during() -> None:
            if "lease expired" in meanwhile:
                self.clock.advance(seconds=LEASE_SECONDS + 1)
            if meanwhile.startswith("sweeper"):
                self._export(Faults())
            elif meanwhile.startswith("trigger"):
                self._export(Faults(), images)
            elif meanwhile == "redrive":
                self.redrive()
            elif meanwhile == "purge past the hard cap":
                self.purge_past_the_hard_cap()
            elif self.ids:
                self.insider_removes_first_sent_at(self.ids[-1])

        self.transport.while_in_flight = during
        self._export(_faults(fault), images if outer == "trigger" else None)
        self.transport.while_in_flight = None

    @rule(record_id=created)
    def insider_removes_first_sent_at(self, record_id: str) -> None:
        # an UpdateItem the export role's policy allows (first_sent_at is among its attributes)
        self.client.update_item(
            TableName=str(RecordModel.Meta.table_name),
            Key={"finess": {"S": PHARMACIST.finess or ""}, "record_id": {"S": record_id}},
            UpdateExpression="REMOVE first_sent_at",
        )

    @rule()
    def purge_past_the_hard_cap(self) -> None:
        self.clock.advance(days=self.policy.hard_cap_days + 1)
        purge(PurgeDeps(store=self.store, journal=self.journal, policy=self.policy), self.clock.now())
        sent = self._sent_messages()
        for record_id in self.ids:
            if (
                record_id not in self.capped
                and self.records.repository.get(PHARMACIST.finess or "", record_id)[1] is None
            ):
                self.capped[record_id] = sent.get(record_id, 0)

    @rule(seconds=st.sampled_from([5, 30, 121, 3600]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule()
    def redrive(self) -> None:
        DynamoDbExportQueue(self.client, owner="operator", retention=self.policy).redrive(self.clock.now())

    @rule()
    def purge_a_month_later(self) -> None:
        self.clock.advance(days=self.policy.after_ack_days + 1)
        purge(PurgeDeps(store=self.store, journal=self.journal, policy=self.policy), self.clock.now())

    # the agreement ------------------------------------------------------------------------------
    def _sent_messages(self) -> dict[str, int]:
        """Per record, how many distinct messages SI-DEP accepted or refused (not arrivals)."""
        count: dict[str, int] = {}
        for message in self.receiver.messages().values():
            count[message["record_id"]] = count.get(message["record_id"], 0) + 1
        return count

    @invariant()
    def nothing_cancelled_or_erased_ever_reached_sidep(self) -> None:
        received = {m["record_id"] for m in self.receiver.messages().values()}
        assert not received & self.never_sent

    @invariant()
    def what_sidep_received_is_already_sent_for_good(self) -> None:
        markers = {m.record_id: m.first_sent_at for m in SentMarkerModel.scan(consistent_read=True)}
        for record_id, first in self.markers.items():
            assert markers.get(record_id) == first, record_id  # never removed, never rewritten
        self.markers.update(markers)
        for record_id in self._sent_messages():
            assert record_id in markers, record_id
            record, _ = self.records.repository.get(PHARMACIST.finess or "", record_id)
            assert delivery.already_sent(record), record_id

    @invariant()
    def nothing_more_leaves_for_a_record_erased_at_the_hard_cap(self) -> None:
        if not self.capped:
            return
        sent = self._sent_messages()
        table = str(RecordModel.Meta.table_name)
        for record_id, before in self.capped.items():
            assert sent.get(record_id, 0) == before, record_id
            item = self.client.get_item(
                TableName=table,
                Key={"finess": {"S": PHARMACIST.finess or ""}, "record_id": {"S": record_id}},
                ConsistentRead=True,
            )["Item"]
            assert "export_queue" not in item and "personal" not in item, record_id

    def teardown(self) -> None:
        try:
            if self.ids:
                self._settle()
                self._agree()
        finally:
            _empty_tables(self.client)

    def _load(self, record_id: str) -> ScreeningRecord:
        record, _ = self.records.repository.get(PHARMACIST.finess or "", record_id)
        return record

    def _settle(self) -> None:
        live = [i for i in self.ids if i not in self.capped]
        for _ in range(30):
            self.clock.advance(hours=2)
            for record_id in live:
                if self._load(record_id).status is RecordStatus.REJECTED:
                    self._call(records.withdraw_record, record_id)  # the pharmacist gives up on it
            self.redrive()
            self._export(Faults())
            if all(self._settled(self._load(i)) for i in live):
                return
        raise AssertionError("the export never settled")

    @staticmethod
    def _settled(record: ScreeningRecord) -> bool:
        return record.status in (RecordStatus.PENDING, RecordStatus.ACKNOWLEDGED) or (
            record.status is RecordStatus.CANCELLED and not delivery.has_message_to_send(record)
        )

    def _agree(self) -> None:
        holdings = self.receiver.holdings()
        for record_id in self.ids:
            if record_id in self.capped:
                continue  # its data is gone (the law's bound); the invariants cover it
            ours = self._load(record_id)
            theirs = holdings.get(record_id)
            if ours.status is RecordStatus.ACKNOWLEDGED:
                assert theirs is not None, record_id
                assert theirs["kind"] in ("F", "C")
                assert ours.test.result is not None
                assert theirs["result"] == RESULT_CODES[ours.test.result][0]
                kind = MessageKind(theirs["kind"])
                assert theirs["control_id"] == message_control_id(
                    record_id, ours.delivery.acknowledged_version, kind
                )
            elif ours.status is RecordStatus.CANCELLED:
                assert theirs is None or theirs["kind"] == "W", (record_id, theirs)
            else:
                assert ours.status is RecordStatus.PENDING
                assert theirs is None, (record_id, theirs)
            if record_id in self.never_sent:
                assert theirs is None and not delivery.already_sent(ours)


STATE_DIR: list[str] = [""]


def _empty_tables(client: Any) -> None:
    for table in (str(RecordModel.Meta.table_name), str(SentMarkerModel.Meta.table_name)):
        keys = [
            {"finess": item["finess"], "record_id": item["record_id"]}
            for item in client.scan(TableName=table, ProjectionExpression="finess, record_id")["Items"]
        ]
        for start in range(0, len(keys), 25):
            client.batch_write_item(
                RequestItems={table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
            )


def test_sidep_and_we_agree_after_any_interleaving(aws: dict[str, str], tmp_path: Path) -> None:
    STATE_DIR[0] = str(tmp_path)
    EXAMPLES_RUN[0] = 0
    run = settings(
        max_examples=MAX_EXAMPLES,
        stateful_step_count=20,
        deadline=None,
        derandomize=os.environ.get("MODEL_SEED") is None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )(SidepAgreement)
    run.TestCase().runTest()
    print(f"model-based test: {EXAMPLES_RUN[0]} interleavings")
    assert EXAMPLES_RUN[0] >= MAX_EXAMPLES
