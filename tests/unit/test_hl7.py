"""HL7 v2.5.1 messages and batches for SI-DEP, checked with an independent parser (python-hl7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import hl7
import pytest

from chalicelib.adapters.sidep import hl7 as sidep_hl7
from chalicelib.adapters.sidep.hl7 import (
    AckCode,
    Hl7Error,
    batch_control_id,
    build_batch,
    build_message,
    message_control_id,
    parse_acks,
)
from chalicelib.domain import model
from chalicelib.domain.model import Address, MessageKind, Patient, RecordStatus, Sex
from chalicelib.domain.model import TestResult as Result
from tests.patients import PATIENTS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SAMPLED = datetime(2026, 11, 29, 10, 15, tzinfo=timezone(timedelta(hours=1)))


def patients() -> list[Patient]:
    import phonenumbers

    out = []
    for p in PATIENTS:
        phone = p.get("phone")
        out.append(
            Patient(
                nir=p["nir"].replace(" ", ""),
                last_name=p["last_name"],
                first_name=p["first_name"],
                birth_date=date.fromisoformat(p["birth_date"]),
                sex=Sex(p["sex"]),
                email=p.get("email"),
                phone=phonenumbers.format_number(
                    phonenumbers.parse(phone, "FR"), phonenumbers.PhoneNumberFormat.E164
                )
                if phone
                else None,
                address=Address(**p["address"]) if p.get("address") else None,
            )
        )
    return out


def a_record(
    result: Result | None = Result.NEGATIVE, version: int = 1, record_id: str = "rec-0001"
) -> model.TestRecord:
    return model.TestRecord(
        id=record_id,
        finess="750000010",
        patient=None,
        test=model.TestInfo(model.TestKind.ANTIGEN, "1232", SAMPLED, result),
        status=RecordStatus.READY,
        created_at=NOW,
        updated_at=NOW,
        created_by="u",
        version=version,
    )


def field(message: hl7.Message, path: str) -> str:
    """python-hl7's accessor: the value at SEG.Fn.Rn.Cn.Sn, unescaped."""
    return str(message[path])


@pytest.mark.parametrize("index", range(len(PATIENTS)))
@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_message_parses_with_python_hl7_and_carries_the_fields(index: int, kind: MessageKind) -> None:
    patient = patients()[index]
    record = a_record(Result.POSITIVE)
    built = build_message(record, patient, kind)
    message = hl7.parse(built.text)

    assert [str(s[0]) for s in message] == ["MSH", "PID", "OBR", "OBX"]
    assert field(message, "MSH.F3") == "DEPISTAGE"
    assert field(message, "MSH.F4.R1.C1") == "750000010"
    assert field(message, "MSH.F4.R1.C2") == "1.2.250.1.71.4.2.2"
    assert [field(message, f"MSH.F9.R1.C{i}") for i in (1, 2, 3)] == ["ORU", "R01", "ORU_R01"]
    assert field(message, "MSH.F10") == built.control_id == message_control_id(record.id, 1, kind)
    assert field(message, "MSH.F12") == "2.5.1"

    assert field(message, "PID.F3.R1.C1") == patient.nir
    assert field(message, "PID.F3.R1.C4.S2") == "1.2.250.1.213.1.4.8"
    assert field(message, "PID.F3.R1.C5") == "INS"
    assert field(message, "PID.F5.R1.C1") == patient.last_name
    assert field(message, "PID.F5.R1.C2") == patient.first_name
    assert field(message, "PID.F7") == patient.birth_date.strftime("%Y%m%d")
    assert field(message, "PID.F8") == patient.sex.value
    if patient.address:
        assert field(message, "PID.F11.R1.C1") == patient.address.line
        assert field(message, "PID.F11.R1.C3") == patient.address.city
        assert field(message, "PID.F11.R1.C5") == patient.address.postal_code
    else:
        assert field(message, "PID.F11") == ""
    if patient.phone:
        assert field(message, "PID.F13.R1.C12") == patient.phone
    else:
        assert field(message, "PID.F13") == ""

    assert field(message, "OBR.F2.R1.C1") == record.id
    assert field(message, "OBR.F4.R1.C1") == "94558-4" and field(message, "OBR.F4.R1.C3") == "LN"
    assert field(message, "OBR.F7") == "20261129091500+0000"  # 10:15 +01:00 in UTC
    assert field(message, "OBX.F2") == "CWE"
    assert field(message, "OBX.F3.R1.C1") == "94558-4" and field(message, "OBX.F3.R1.C3") == "LN"
    assert "Rapid immunoassay" in field(message, "OBX.F3.R1.C2")
    assert field(message, "OBX.F5.R1.C1") == "260373001" and field(message, "OBX.F5.R1.C3") == "SCT"
    assert field(message, "OBX.F11") == kind.value
    assert field(message, "OBX.F14") == "20261129091500+0000"
    assert field(message, "OBX.F18.R1.C1") == "1232"


@pytest.mark.parametrize(
    ("result", "code"),
    [(Result.POSITIVE, "260373001"), (Result.NEGATIVE, "260415000"), (Result.INVALID, "455371000124106")],
)
def test_results_are_coded(result: Result, code: str) -> None:
    message = hl7.parse(build_message(a_record(result), patients()[0], MessageKind.FINAL).text)
    assert field(message, "OBX.F5.R1.C1") == code


def test_delimiters_in_values_are_escaped_and_come_back_intact() -> None:
    tricky = replace(
        patients()[0],
        last_name="O'Brien|Smith^Jr&Co~\\x",
        first_name="Anne\nMarie",
        address=Address("3 rue A|B", "75001", "Paris^1"),
    )
    built = build_message(a_record(), tricky, MessageKind.FINAL)
    message = hl7.parse(built.text)
    assert len(message) == 4  # no segment was split
    assert field(message, "PID.F5.R1.C1") == "O'Brien|Smith^Jr&Co~\\x"
    assert field(message, "PID.F5.R1.C2") == "Anne Marie"
    assert field(message, "PID.F11.R1.C1") == "3 rue A|B"
    assert field(message, "PID.F11.R1.C3") == "Paris^1"


def test_the_template_is_what_hl7apy_builds_field_by_field() -> None:
    patient = patients()[0]
    record = a_record()
    built = build_message(record, patient, MessageKind.CORRECTION)
    values = sidep_hl7._values(record, patient, MessageKind.CORRECTION, sidep_hl7.SenderIdentity())
    full = sidep_hl7._build_with_hl7apy(values, with_address=True, with_phone=True)
    assert built.text == full


def test_the_message_also_parses_with_hl7apy() -> None:
    from hl7apy.parser import parse_message

    built = build_message(a_record(), patients()[1], MessageKind.FINAL)
    message = parse_message(built.text)
    assert message.msh.msh_10.value == built.control_id
    assert message.children[1].name == "ORU_R01_PATIENT_RESULT"


def test_control_ids_are_stable_per_version_and_kind_and_fit_msh_10() -> None:
    first = message_control_id("rec-1", 1, MessageKind.FINAL)
    assert first == message_control_id("rec-1", 1, MessageKind.FINAL)
    others = {
        message_control_id("rec-1", 2, MessageKind.FINAL),
        message_control_id("rec-1", 1, MessageKind.CORRECTION),
        message_control_id("rec-2", 1, MessageKind.FINAL),
    }
    assert first not in others and len(others) == 3
    assert len(first) == 20 and first.isalnum()
    # a resend of the same record version is byte for byte the same message
    patient = patients()[0]
    assert build_message(a_record(), patient, MessageKind.FINAL) == build_message(
        a_record(), patient, MessageKind.FINAL
    )


def test_a_batch_has_bhs_the_messages_and_bts_and_an_order_free_id() -> None:
    ps = patients()
    messages = [build_message(a_record(record_id=f"rec-{i}"), ps[i], MessageKind.FINAL) for i in range(3)]
    batch = build_batch(messages, NOW)
    text = batch.payload.decode()
    assert text.startswith("BHS|^~\\&|DEPISTAGE|") and text.endswith("BTS|3\r")
    parsed = hl7.parse_batch(text)
    assert len(parsed) == 3
    assert str(parsed.header[11]) == batch.control_id
    assert [field(m, "MSH.F10") for m in parsed] == [m.control_id for m in messages]
    assert batch.control_id == batch_control_id([m.control_id for m in reversed(messages)])
    assert build_batch(list(reversed(messages)), NOW).control_id == batch.control_id
    with pytest.raises(Hl7Error):
        build_batch([], NOW)


def test_acks_are_read_per_message_with_their_reason() -> None:
    answer = (
        "BHS|^~\\&|SI-DEP|SIDEP|DEPISTAGE|DEPISTAGE|20261129120000||||ACKB|B1\r"
        "MSH|^~\\&|SI-DEP|SIDEP|DEPISTAGE|DEPISTAGE|20261129120000||ACK^R01^ACK|A1|P|2.5.1\r"
        "MSA|AA|ID1\r"
        "MSH|^~\\&|SI-DEP|SIDEP|DEPISTAGE|DEPISTAGE|20261129120000||ACK^R01^ACK|A2|P|2.5.1\r"
        "MSA|AE|ID2\r"
        "ERR|||207^Application internal error^HL70357|E||||device \\F\\ unknown\r"
        "MSH|^~\\&|SI-DEP|SIDEP|DEPISTAGE|DEPISTAGE|20261129120000||ACK^R01^ACK|A3|P|2.5.1\r"
        "MSA|AR|ID3|malformed\r"
        "BTS|3\r"
    )
    acks = parse_acks(answer.encode())
    assert acks["ID1"].accepted and acks["ID1"].reason == ""
    assert acks["ID2"].code is AckCode.AE and acks["ID2"].reason == "device | unknown"
    assert acks["ID3"].code is AckCode.AR and acks["ID3"].reason == "malformed"
    single = parse_acks("MSH|^~\\&|S|S|D|D|20261129||ACK|A|P|2.5.1\rMSA|AA|ID9\r")
    assert single["ID9"].accepted


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"<html>oops</html>",
        b"MSH|^~\\&|S|S|D|D|2026||ACK|A|P|2.5.1\rMSA|ZZ|ID\r",
        b"MSH|^~\\&|S\r",
    ],
)
def test_unreadable_acks_are_an_error_that_quotes_nothing(garbage: bytes) -> None:
    with pytest.raises(Hl7Error) as caught:
        parse_acks(garbage)
    assert "oops" not in str(caught.value)
