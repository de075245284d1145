"""The patient's rights on in-memory ports: the export finds a patient's records at the caller's
pharmacy only and is journaled before it answers; the erasure erases what was never sent and names
what SI-DEP holds."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace

import pytest

from chalicelib.config import Settings
from chalicelib.domain.errors import Conflict, Forbidden, ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.ports import RequestMeta
from chalicelib.services import patients, records
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeCipher,
    FakeIdempotency,
    FakeIndex,
    FakeJournal,
    FakeRepository,
    FakeRetentionStore,
    FixedClock,
    create_command,
    patient_query,
)
from testkit.patients import PATIENTS, screening_body

PHARMACIST = Principal("pharmacist-a", Role.PHARMACIST, "750000010")
OTHER = Principal("pharmacist-b", Role.PHARMACIST, "130000029")
META = RequestMeta(request_id="r-1")
NIR = {"nir": PATIENTS[0]["nir"]}


class World:
    def __init__(self) -> None:
        ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
        self.repository, self.journal, self.clock = FakeRepository(), FakeJournal(), FixedClock()
        self.store = FakeRetentionStore()
        self.records = records.RecordsDeps(
            repository=self.repository,
            cipher=FakeCipher(),
            index=FakeIndex(),
            idempotency=FakeIdempotency(),
            journal=self.journal,
            clock=self.clock,
            settings=Settings(),
            new_id=lambda: next(ids),
        )
        self.patients = patients.PatientsDeps(
            repository=self.repository,
            cipher=self.records.cipher,
            index=self.records.index,
            store=self.store,
            journal=self.journal,
            clock=self.clock,
            policy=RetentionPolicy(),
        )

    def create(self, caller: Principal, patient: int) -> str:
        record, _ = records.create_record(
            self.records, Call(caller, META), create_command(self.records, screening_body(patient))
        )
        return record.id


def test_the_export_holds_the_patient_s_records_at_this_pharmacy_only_and_is_journaled_first() -> None:
    world = World()
    mine = [world.create(PHARMACIST, 0), world.create(PHARMACIST, 0)]
    world.create(PHARMACIST, 1)
    world.create(OTHER, 0)  # the same person at another pharmacy
    answer = patients.export_patient(world.patients, Call(PHARMACIST, META), patient_query(NIR))
    assert [r["id"] for r in answer["records"]] == mine
    assert answer["records"][0]["patient"]["last_name"] == PATIENTS[0]["last_name"]
    assert world.journal.events[-1].action == "patient_export"
    assert world.journal.events[-1].record_ids == tuple(mine)


def test_no_export_leaves_when_the_journal_cannot_take_its_event() -> None:
    world = World()
    world.create(PHARMACIST, 0)
    world.journal.down = True
    with pytest.raises(ServiceUnavailable):
        patients.export_patient(world.patients, Call(PHARMACIST, META), patient_query(NIR))


def test_the_platform_exercises_no_patient_right() -> None:
    world = World()
    operator = Principal("operator", Role.PLATFORM_ADMIN, None)
    with pytest.raises(Forbidden):
        patients.erase_patient(world.patients, Call(operator, META), patient_query(NIR))
    assert world.journal.actions() == [("patient_erasure", "denied")]


def test_the_erasure_erases_what_was_never_sent_and_names_what_sidep_holds() -> None:
    world = World()
    unsent, sent = world.create(PHARMACIST, 0), world.create(PHARMACIST, 0)
    record = world.repository.items[(PHARMACIST.finess or "", sent)][0]
    record.delivery = replace(record.delivery, first_sent_at=world.clock.now())
    answer = patients.erase_patient(world.patients, Call(PHARMACIST, META), patient_query(NIR))
    assert answer["erased"] == [unsent] and world.store.erased == [unsent]
    assert [r["id"] for r in answer["already_sent"]] == [sent]
    assert [(e.action, e.record_ids) for e in world.journal.events[-2:]] == [
        ("erase", (unsent,)),
        ("patient_erasure", (unsent, sent)),
    ]


def test_a_record_that_keeps_changing_is_a_conflict_and_nothing_is_erased() -> None:
    world = World()
    record_id = world.create(PHARMACIST, 0)
    world.store.refuse.add(record_id)
    with pytest.raises(Conflict):
        patients.erase_patient(world.patients, Call(PHARMACIST, META), patient_query(NIR))
    assert world.store.erased == [] and "erase" not in [e.action for e in world.journal.events]
