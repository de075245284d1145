"""The record use cases with in-memory ports: idempotency, the audit rule, roles."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from chalicelib.domain.model import Principal, Role, ScreeningRecord
from chalicelib.ports import Change, RequestMeta
from chalicelib.services import records
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeCipher,
    FakeIdempotency,
    FakeIndex,
    FakeJournal,
    FakeRepository,
    FixedClock,
    create_command,
    result_command,
)
from testkit.patients import screening_body

PHARMACIST = Principal("pharmacist-a", Role.PHARMACIST, "750000010")
OTHER = Principal("pharmacist-b", Role.PHARMACIST, "130000029")
OPERATOR = Principal("operator", Role.PLATFORM_ADMIN, None)
META = RequestMeta(request_id="req-1", source_ip="127.0.0.1", user_agent="tests")


@pytest.fixture
def deps() -> records.RecordsDeps:
    ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
    return records.RecordsDeps(
        repository=FakeRepository(),
        cipher=FakeCipher(),
        index=FakeIndex(),
        idempotency=FakeIdempotency(),
        journal=FakeJournal(),
        clock=FixedClock(),
        settings=Settings(),
        new_id=lambda: next(ids),
    )


def journal(deps: records.RecordsDeps) -> FakeJournal:
    assert isinstance(deps.journal, FakeJournal)
    return deps.journal


def test_create_then_read_is_journaled(deps: records.RecordsDeps) -> None:
    record, created = records.create_record(
        deps, Call(PHARMACIST, META), create_command(deps, screening_body(0))
    )
    assert created and record.finess == "750000010"
    again = records.read_record(deps, Call(PHARMACIST, META), record.id)
    assert again.patient == record.patient
    assert journal(deps).actions() == [("create", "success"), ("read", "success")]
    assert journal(deps).events[1].record_ids == (record.id,)


def test_a_failed_create_leaves_no_claim_nor_event_and_the_retry_creates_once(
    deps: records.RecordsDeps,
) -> None:
    key = str(uuid.uuid4())
    repo, claims = deps.repository, deps.idempotency
    assert isinstance(repo, FakeRepository) and isinstance(claims, FakeIdempotency)
    repo.fail_add = True
    with pytest.raises(ServiceUnavailable):
        records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0), key))
    assert repo.items == {} and claims.entries == {} and journal(deps).events == []
    repo.fail_add = False
    record, created = records.create_record(
        deps, Call(PHARMACIST, META), create_command(deps, screening_body(0), key)
    )
    replay, created_again = records.create_record(
        deps, Call(PHARMACIST, META), create_command(deps, screening_body(0), key)
    )
    assert created and not created_again
    assert replay.id == record.id
    assert len(repo.items) == 1
    assert journal(deps).actions() == [("create", "success"), ("create", "success")]
    assert journal(deps).events[1].reason == "replay"


def test_a_journal_down_stores_no_change(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0)))
    journal(deps).down = True
    with pytest.raises(ServiceUnavailable):
        records.create_record(
            deps, Call(PHARMACIST, META), create_command(deps, screening_body(1), str(uuid.uuid4()))
        )
    with pytest.raises(ServiceUnavailable):
        records.set_result(deps, Call(PHARMACIST, META), result_command(record.id, {"result": "positive"}))
    repo = deps.repository
    assert isinstance(repo, FakeRepository)
    assert len(repo.items) == 1 and repo.get(record.finess, record.id)[0].test.result == record.test.result


def test_same_key_other_body_is_a_conflict(deps: records.RecordsDeps) -> None:
    key = str(uuid.uuid4())
    records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0), key))
    with pytest.raises(Conflict):
        records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(1), key))


def test_the_same_key_at_another_pharmacy_is_another_request(deps: records.RecordsDeps) -> None:
    key = str(uuid.uuid4())
    a, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0), key))
    b, created = records.create_record(deps, Call(OTHER, META), create_command(deps, screening_body(0), key))
    assert created and a.id != b.id


def test_a_read_is_refused_when_the_journal_is_down(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0)))
    journal(deps).down = True
    with pytest.raises(ServiceUnavailable):
        records.read_record(deps, Call(PHARMACIST, META), record.id)
    with pytest.raises(ServiceUnavailable):
        records.read_delivery(deps, Call(PHARMACIST, META), record.id)


def test_another_pharmacy_gets_not_found(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0)))
    with pytest.raises(NotFound):
        records.read_record(deps, Call(OTHER, META), record.id)


def test_platform_admin_reads_no_health_data_and_is_journaled(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0)))
    with pytest.raises(Forbidden):
        records.read_record(deps, Call(OPERATOR, META), record.id)
    assert journal(deps).actions()[-1] == ("read", "denied")


def test_setting_the_same_result_twice_changes_nothing(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(
        deps, Call(PHARMACIST, META), create_command(deps, screening_body(0, result=None))
    )
    first = records.set_result(
        deps, Call(PHARMACIST, META), result_command(record.id, {"result": "positive"})
    )
    second = records.set_result(
        deps, Call(PHARMACIST, META), result_command(record.id, {"result": "positive"})
    )
    assert first.version == second.version == 2
    assert first.status.value == "ready"


def test_cancel_after_sending_is_a_conflict(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, screening_body(0)))
    repo = deps.repository
    assert isinstance(repo, FakeRepository)
    stored, _blob, _index = repo.items[(record.finess, record.id)]
    stored.delivery.first_sent_at = stored.created_at  # the lease's fact
    with pytest.raises(Conflict):
        records.cancel_record(deps, Call(PHARMACIST, META), record.id)


class RacedRepository(FakeRepository):
    """A repository whose next `races` saves find the record changed since it was read (the
    export's lease, another request), as a version condition that fails."""

    races = 0

    def save_change(self, record: ScreeningRecord, *, expected_version: int) -> Change:
        if self.races:
            self.races -= 1

            def write(pending: list[Any]) -> None:
                raise Conflict("The record changed meanwhile; reload it and retry.")

            return Change(write=write, conflict=lambda _failed: Conflict())
        return super().save_change(record, expected_version=expected_version)


@pytest.fixture
def raced(deps: records.RecordsDeps) -> tuple[records.RecordsDeps, RacedRepository]:
    repository = RacedRepository()
    return dataclasses.replace(deps, repository=repository), repository


def test_a_result_that_lost_a_race_for_the_version_is_read_again_and_set_not_a_409(
    raced: tuple[records.RecordsDeps, RacedRepository],
) -> None:
    deps, repository = raced
    record, _ = records.create_record(
        deps, Call(PHARMACIST, META), create_command(deps, screening_body(0, result=None))
    )
    repository.races = records.CHANGE_ATTEMPTS - 1
    updated = records.set_result(
        deps, Call(PHARMACIST, META), result_command(record.id, {"result": "positive"})
    )
    assert updated.test.result is not None and updated.test.result.value == "positive"
    assert repository.get(record.finess, record.id)[0].version == record.version + 1
    assert journal(deps).actions() == [("create", "success"), ("set_result", "success")]


def test_a_change_that_keeps_losing_the_race_is_a_409_after_a_bounded_number_of_reads(
    raced: tuple[records.RecordsDeps, RacedRepository],
) -> None:
    deps, repository = raced
    record, _ = records.create_record(
        deps, Call(PHARMACIST, META), create_command(deps, screening_body(0, result=None))
    )
    repository.races = records.CHANGE_ATTEMPTS
    with pytest.raises(Conflict):
        records.cancel_record(deps, Call(PHARMACIST, META), record.id)
    assert repository.get(record.finess, record.id)[0].status.value == "pending"
    assert journal(deps).actions() == [("create", "success")]
