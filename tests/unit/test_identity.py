"""The patient's INS identity: its status derived from what was checked, never from the client,
through the INSi port, and the HL7 message each status produces (parsed back with python-hl7)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime

import hl7
import pytest

from chalicelib.adapters.insi import FakeInsi
from chalicelib.adapters.sidep.hl7 import build_message
from chalicelib.config import Settings
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.identity import IdentityDocument, IdentityStatus, document_validates, reliability
from chalicelib.domain.model import MessageKind, Principal, Role
from chalicelib.payloads import parse_submission
from chalicelib.ports import InsiTeleservice, RequestMeta
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
)
from testkit.patients import ins_body, screening_body

PHARMACIST = Principal("pharmacist-a", Role.PHARMACIST, "750000010")
META = RequestMeta(request_id="req-1")
INS_OID = "1.2.250.1.213.1.4.8"


def deps_with(insi: InsiTeleservice) -> records.RecordsDeps:
    ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
    return records.RecordsDeps(
        repository=FakeRepository(),
        cipher=FakeCipher(),
        index=FakeIndex(),
        idempotency=FakeIdempotency(),
        journal=FakeJournal(),
        clock=FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),
        settings=Settings(),
        new_id=lambda: next(ids),
        insi=insi,
    )


def created(deps: records.RecordsDeps, body: dict[str, object]) -> tuple[IdentityStatus, hl7.Message]:
    record, _ = records.create_record(deps, Call(PHARMACIST, META), create_command(deps, body))
    again = records.read_record(deps, Call(PHARMACIST, META), record.id)  # through the cipher: what is stored
    assert again.patient is not None
    message = hl7.parse(build_message(again, again.patient, MessageKind.FINAL).text)
    return again.patient.identity_status, message


def pid(message: hl7.Message, path: str) -> str:
    return str(message[f"PID.{path}"])


def test_nothing_checked_is_provisional_and_sends_the_nir_as_the_health_plan_id() -> None:
    insi = FakeInsi()
    status, message = created(deps_with(insi), screening_body(0))
    assert status is IdentityStatus.PROVISIONAL and insi.calls == 0  # no traits: INSi not asked
    assert (pid(message, "F3.R1.C5"), pid(message, "F32")) == ("NH", "PROV")
    assert INS_OID not in str(message)


def test_a_document_alone_validates_without_the_ins() -> None:
    status, message = created(deps_with(FakeInsi(down=True)), ins_body(0, "passport"))
    assert status is IdentityStatus.VALIDATED
    assert (pid(message, "F3.R1.C5"), pid(message, "F32")) == ("NH", "VALI")
    assert INS_OID not in str(message)


def test_insi_alone_recovers_without_the_ins() -> None:
    status, message = created(deps_with(FakeInsi()), ins_body(0, document="none"))
    assert status is IdentityStatus.RECOVERED
    assert (pid(message, "F3.R1.C5"), pid(message, "F32")) == ("NH", "RECUP")
    assert INS_OID not in str(message)


def test_insi_and_a_high_trust_document_qualify_and_only_then_the_ins_oid_is_sent() -> None:
    insi = FakeInsi()
    status, message = created(deps_with(insi), ins_body(1, "identity_card"))
    assert status is IdentityStatus.QUALIFIED and insi.calls == 1
    assert pid(message, "F3.R1.C1") == "185057800608491"
    assert (pid(message, "F3.R1.C4.S2"), pid(message, "F3.R1.C5"), pid(message, "F32")) == (
        INS_OID,
        "INS",
        "QUAL",
    )


def test_insi_not_finding_the_identity_leaves_what_the_counter_checked() -> None:
    body = ins_body(0, "identity_card")
    body["patient"]["birth_place"] = "75056"  # not the birth place the NIR carries
    status, _ = created(deps_with(FakeInsi()), body)
    assert status is IdentityStatus.VALIDATED


def test_insi_down_loses_nothing_the_record_is_kept_at_the_counter_s_status() -> None:
    insi = FakeInsi(down=True)
    deps = deps_with(insi)
    status, _ = created(deps, ins_body(1, "identity_card"))
    assert status is IdentityStatus.VALIDATED and insi.calls == 1


def test_a_client_claiming_a_status_is_refused() -> None:
    body = screening_body(0)
    body["patient"]["identity_status"] = "qualified"
    deps = deps_with(FakeInsi())
    with pytest.raises(ValidationFailed) as caught:  # by the view's parser: no use case sees it
        records.create_record(deps, Call(PHARMACIST, META), create_command(deps, body))
    assert [e.field for e in caught.value.errors] == ["patient.identity_status"]


def test_a_directory_fake_answers_only_for_the_identities_it_holds() -> None:
    traits = records.ins_traits(
        parse_submission(ins_body(0), now=datetime.now(UTC), max_age_days=9999).patient
    )
    assert traits is not None
    insi = FakeInsi({"295109912611193": traits})
    assert insi.verify("295109912611193", traits) and insi.search(traits) == "295109912611193"
    assert not insi.verify("185057800608491", traits)


@pytest.mark.parametrize(
    ("document", "birth", "validates"),
    [
        (IdentityDocument.PASSPORT, date(1990, 1, 1), True),
        (IdentityDocument.IDENTITY_CARD, date(1990, 1, 1), True),
        (IdentityDocument.FAMILY_RECORD_BOOK, date(2015, 1, 1), True),  # a minor
        (IdentityDocument.BIRTH_CERTIFICATE, date(2015, 1, 1), True),
        (IdentityDocument.FAMILY_RECORD_BOOK, date(1990, 1, 1), False),  # an adult: not enough
        (IdentityDocument.BIRTH_CERTIFICATE, date(2008, 11, 29), False),  # 18 on the day
        (IdentityDocument.NONE, date(2015, 1, 1), False),
        (None, date(2015, 1, 1), False),
    ],
)
def test_which_documents_validate(document: IdentityDocument | None, birth: date, validates: bool) -> None:
    assert document_validates(document, birth, date(2026, 11, 29)) is validates


def test_the_status_table() -> None:
    assert reliability(document_validates=False, insi_confirmed=False) is IdentityStatus.PROVISIONAL
    assert reliability(document_validates=True, insi_confirmed=False) is IdentityStatus.VALIDATED
    assert reliability(document_validates=False, insi_confirmed=True) is IdentityStatus.RECOVERED
    assert reliability(document_validates=True, insi_confirmed=True) is IdentityStatus.QUALIFIED
