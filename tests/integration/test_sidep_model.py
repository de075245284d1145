"""Model-based test (hypothesis): whatever the interleaving, once things settle, SI-DEP's view
equals ours (chalicelib/domain/delivery.py `already_sent`).

Random sequences of: create, set a result, cancel, withdraw, a patient's erasure, export runs
whose answers are lost (SI-DEP processed the batch; we never saw the ACK), refused (down) or AE,
pharmacist actions while a batch is in flight, time passing (backoff, leases), dead-letter
redrive and the purge. The services and adapters are the real ones on moto; SI-DEP is the fake
receiver's `Receiver` in process (`InProcessTransport`: the same parsing, ledger and fault
semantics as the HTTPS server, without TLS, so that an example costs milliseconds, not seconds).

After quiescence (faults cleared, time moved past every backoff, dead letters redriven, rejected
records withdrawn by their pharmacist), for every record:
- acknowledged here  ⇔ SI-DEP's last accepted message for it is the F/C of our acknowledged version,
  carrying our result;
- cancelled here     ⇒ SI-DEP holds nothing of it, or its last message is a withdrawal (W);
- pending here       ⇒ SI-DEP holds nothing of it;
- a successful cancel (204) or erasure ⇒ SI-DEP never received anything for it.

`make test` runs MODEL_MAX_EXAMPLES (default 20) examples, derandomized; `make fuzz` many more
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
from chalicelib.adapters.dynamodb.models import RecordModel
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
from chalicelib.services.export import ExportRun, ExportSettings
from chalicelib.services.retention import PurgeDeps, purge, retention_policy
from devtools.fake_sidep import Faults, InProcessTransport, Receiver
from tests.fakes import FakeCipher, FakeIdempotency, FakeIndex, FakeJournal, FixedClock, dynamodb_changes
from tests.patients import PATIENTS, screening_body

MAX_EXAMPLES = int(os.environ.get("MODEL_MAX_EXAMPLES", "20"))
PHARMACIST = Principal(username="pharmacist-a", role=Role.PHARMACIST, finess="750000010")
META = RequestMeta(request_id="model", source_ip="127.0.0.1")
RESULTS = st.sampled_from([None, "positive", "negative", "invalid"])
FAULTS = st.sampled_from(["none", "none", "lost", "down", "ae"])
MAX_ATTEMPTS = 3
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
        _empty_table(self.client)

    # what the pharmacist does -----------------------------------------------------------------
    def _call(self, action: Any, *args: Any) -> Any:
        try:
            return action(self.records, PHARMACIST, META, *args)
        except Conflict:
            return None  # refused: cancelled, erased, changed meanwhile, already sent...

    @rule(target=created, patient=st.integers(0, 2), result=RESULTS)
    def create(self, patient: int, result: str | None) -> str:
        sampled = (self.clock.now() - timedelta(minutes=10)).isoformat()
        record, _ = records.create_record(
            self.records, PHARMACIST, META, screening_body(patient, result, sampled_at=sampled), None
        )
        self.ids.append(record.id)
        return record.id

    @rule(record_id=created, result=RESULTS)
    def set_result(self, record_id: str, result: str | None) -> None:
        self._call(records.set_result, record_id, {"result": result})

    @rule(record_id=created)
    def cancel(self, record_id: str) -> None:
        try:
            records.cancel_record(self.records, PHARMACIST, META, record_id)
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
            answer = patients.erase_patient(self.patients, PHARMACIST, META, nir)
        except Conflict:
            return
        self.never_sent.update(answer["erased"])

    # what the exporter and SI-DEP do ------------------------------------------------------------
    def _export(self, faults: Faults) -> None:
        self.transport.faults = faults
        ExportRun(
            queue=DynamoDbExportQueue(
                self.client, owner=f"run-{uuid.uuid4().hex[:6]}", retention=self.policy
            ),
            cipher=self.cipher,
            sender=Hl7BatchSender(self.transport),
            journal=self.journal,
            clock=self.clock,
            settings=ExportSettings(
                time_budget_seconds=600,
                batch_size=4,
                lease_seconds=120,
                batch_reserve_seconds=0,
                backoff=delivery.BackoffPolicy(base_seconds=10, cap_seconds=60, max_attempts=MAX_ATTEMPTS),
            ),
            rand=lambda: 0.5,
        ).run()

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
    @invariant()
    def nothing_cancelled_or_erased_ever_reached_sidep(self) -> None:
        received = {m["record_id"] for m in self.receiver.messages().values()}
        assert not received & self.never_sent

    def teardown(self) -> None:
        try:
            if self.ids:
                self._settle()
                self._agree()
        finally:
            _empty_table(self.client)

    def _load(self, record_id: str) -> ScreeningRecord:
        record, _ = self.records.repository.get(PHARMACIST.finess or "", record_id)
        return record

    def _settle(self) -> None:
        for _ in range(30):
            self.clock.advance(hours=2)
            for record_id in self.ids:
                if self._load(record_id).status is RecordStatus.REJECTED:
                    self._call(records.withdraw_record, record_id)  # the pharmacist gives up on it
            self.redrive()
            self._export(Faults())
            if all(self._settled(self._load(i)) for i in self.ids):
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


def _empty_table(client: Any) -> None:
    table = str(RecordModel.Meta.table_name)
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
