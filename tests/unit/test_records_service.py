"""The record use cases with in-memory ports: idempotency, the audit rule, roles."""

from __future__ import annotations

import itertools
import uuid

import pytest

from chalicelib.config import Settings
from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import RequestMeta
from chalicelib.services import records
from tests.fakes import FakeCipher, FakeIdempotency, FakeIndex, FakeJournal, FakeRepository, FixedClock
from tests.patients import screening_body

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
    record, created = records.create_record(deps, PHARMACIST, META, screening_body(0), None)
    assert created and record.finess == "750000010"
    again = records.read_record(deps, PHARMACIST, META, record.id)
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
        records.create_record(deps, PHARMACIST, META, screening_body(0), key)
    assert repo.items == {} and claims.entries == {} and journal(deps).events == []
    repo.fail_add = False
    record, created = records.create_record(deps, PHARMACIST, META, screening_body(0), key)
    replay, created_again = records.create_record(deps, PHARMACIST, META, screening_body(0), key)
    assert created and not created_again
    assert replay.id == record.id
    assert len(repo.items) == 1
    assert journal(deps).actions() == [("create", "success"), ("create", "success")]
    assert journal(deps).events[1].reason == "replay"


def test_a_journal_down_stores_no_change(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, PHARMACIST, META, screening_body(0), None)
    journal(deps).down = True
    with pytest.raises(ServiceUnavailable):
        records.create_record(deps, PHARMACIST, META, screening_body(1), str(uuid.uuid4()))
    with pytest.raises(ServiceUnavailable):
        records.set_result(deps, PHARMACIST, META, record.id, {"result": "positive"})
    repo = deps.repository
    assert isinstance(repo, FakeRepository)
    assert len(repo.items) == 1 and repo.get(record.finess, record.id)[0].test.result == record.test.result


def test_same_key_other_body_is_a_conflict(deps: records.RecordsDeps) -> None:
    key = str(uuid.uuid4())
    records.create_record(deps, PHARMACIST, META, screening_body(0), key)
    with pytest.raises(Conflict):
        records.create_record(deps, PHARMACIST, META, screening_body(1), key)


def test_the_same_key_at_another_pharmacy_is_another_request(deps: records.RecordsDeps) -> None:
    key = str(uuid.uuid4())
    a, _ = records.create_record(deps, PHARMACIST, META, screening_body(0), key)
    b, created = records.create_record(deps, OTHER, META, screening_body(0), key)
    assert created and a.id != b.id


def test_a_read_is_refused_when_the_journal_is_down(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, PHARMACIST, META, screening_body(0), None)
    journal(deps).down = True
    with pytest.raises(ServiceUnavailable):
        records.read_record(deps, PHARMACIST, META, record.id)
    with pytest.raises(ServiceUnavailable):
        records.read_delivery(deps, PHARMACIST, META, record.id)


def test_another_pharmacy_gets_not_found(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, PHARMACIST, META, screening_body(0), None)
    with pytest.raises(NotFound):
        records.read_record(deps, OTHER, META, record.id)


def test_platform_admin_reads_no_health_data_and_is_journaled(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, PHARMACIST, META, screening_body(0), None)
    with pytest.raises(Forbidden):
        records.read_record(deps, OPERATOR, META, record.id)
    assert journal(deps).actions()[-1] == ("read", "denied")


def test_setting_the_same_result_twice_changes_nothing(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, PHARMACIST, META, screening_body(0, result=None), None)
    first = records.set_result(deps, PHARMACIST, META, record.id, {"result": "positive"})
    second = records.set_result(deps, PHARMACIST, META, record.id, {"result": "positive"})
    assert first.version == second.version == 2
    assert first.status.value == "ready"


def test_cancel_after_sending_is_a_conflict(deps: records.RecordsDeps) -> None:
    record, _ = records.create_record(deps, PHARMACIST, META, screening_body(0), None)
    repo = deps.repository
    assert isinstance(repo, FakeRepository)
    stored, _blob, _index = repo.items[(record.finess, record.id)]
    stored.delivery.first_sent_at = stored.created_at  # the lease's fact
    with pytest.raises(Conflict):
        records.cancel_record(deps, PHARMACIST, META, record.id)
