"""HL7 v2.5.1 messages and batches for SI-DEP, checked with an independent parser (python-hl7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

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
from chalicelib.domain.identity import IdentityStatus
from chalicelib.domain.model import Address, MessageKind, Patient, RecordStatus
from chalicelib.domain.model import ScreeningResult as Result
from testkit.patients import PATIENTS, patient

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SAMPLED = datetime(2026, 11, 29, 10, 15, tzinfo=timezone(timedelta(hours=1)))


def patients() -> list[Patient]:
    return [patient(i) for i in range(len(PATIENTS))]


def a_record(
    result: Result | None = Result.NEGATIVE, version: int = 1, record_id: str = "rec-0001"
) -> model.ScreeningRecord:
    return model.ScreeningRecord(
        id=record_id,
        finess="750000010",
        patient=None,
        test=model.ScreeningTest(model.ScreeningKind.ANTIGEN, "1232", SAMPLED, result),
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
    # a provisional identity (nothing checked): the NIR as the national health plan id, not the INS
    assert field(message, "PID.F3.R1.C4") == "" and field(message, "PID.F3.R1.C5") == "NH"
    assert field(message, "PID.F32") == "PROV"
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


def _build_with_hl7apy(
    values: dict[str, str], patient: Patient, *, with_address: bool, with_phone: bool
) -> str:
    """The ORU^R01 built field by field with hl7apy (the reference). `values` are ER7-ready."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message

    v = values
    name = sidep_hl7.LOINC_SARS_COV_2_AG_NAME
    msg = Message("ORU_R01", version="2.5.1", validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = v["APP"]
    msh.msh_4 = f"{v['FINESS']}^1.2.250.1.71.4.2.2^ISO"
    msh.msh_5 = v["RAPP"]
    msh.msh_6 = v["RFAC"]
    msh.msh_7 = v["MSGTIME"]
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = v["CONTROLID"]
    msh.msh_11 = v["PROCID"]
    msh.msh_12 = "2.5.1"
    msh.msh_15 = "NE"
    msh.msh_16 = "AL"
    msh.msh_18 = "UNICODE UTF-8"

    result = msg.add_group("ORU_R01_PATIENT_RESULT")
    pid = result.add_group("ORU_R01_PATIENT").add_segment("PID")
    pid.pid_1 = "1"
    pid.pid_3 = v["PATIENTID"]  # its content per status: test_the_ins_oid_is_sent_only_for_a_qualified_...
    esc = sidep_hl7.escape
    if patient.birth_last_name and patient.birth_first_names:  # IHE PAM France: L birth, D used
        legal = pid.add_field("pid_5")
        legal.xpn_1 = esc(patient.birth_last_name)
        legal.xpn_2 = esc(patient.birth_first_names.split()[0])
        legal.xpn_3 = esc(patient.birth_first_names)
        legal.xpn_7 = "L"
        used = pid.add_field("pid_5")
        used.xpn_1, used.xpn_2, used.xpn_7 = v["LAST"], v["FIRST"], "D"
    else:
        pid.pid_5 = f"{v['LAST']}^{v['FIRST']}^^^^^L"
    pid.pid_7 = v["BIRTH"]
    pid.pid_8 = v["SEX"]
    if with_address:
        pid.pid_11 = f"{v['LINE']}^^{v['CITY']}^^{v['POSTAL']}^FRA^H"
    if with_phone:
        pid.pid_13 = f"{v['PHONE']}^PRN^PH^^^^^^^^^{v['PHONE']}"
    pid.pid_32 = v["RELIABILITY"]

    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    obr = order.add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_2 = f"{v['RECORDID']}^{v['APP']}"
    obr.obr_3 = f"{v['RECORDID']}^{v['APP']}"
    obr.obr_4 = f"94558-4^{name}^LN"
    obr.obr_7 = v["SAMPLED"]
    obr.obr_22 = v["MSGTIME"]
    obr.obr_25 = v["OBRSTATUS"]
    obx = order.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
    obx.obx_1 = "1"
    obx.obx_2 = "CWE"
    obx.obx_3 = f"94558-4^{name}^LN"
    obx.obx_5 = f"{v['RESULTCODE']}^{v['RESULTTEXT']}^SCT"
    obx.obx_11 = v["KIND"]
    obx.obx_14 = v["SAMPLED"]
    obx.obx_18 = f"{v['DEVICE']}^EU-DCC-RAT"
    return str(msg.to_er7())


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize(
    ("with_address", "with_phone"), [(True, True), (True, False), (False, True), (False, False)]
)
@pytest.mark.parametrize(
    ("status", "with_traits"),
    [(IdentityStatus.PROVISIONAL, False), (IdentityStatus.VALIDATED, True), (IdentityStatus.QUALIFIED, True)],
)
def test_the_frozen_template_is_what_hl7apy_builds_field_by_field(
    kind: MessageKind, with_address: bool, with_phone: bool, status: IdentityStatus, with_traits: bool
) -> None:
    base = patients()[0]
    assert base.address is not None and base.phone
    patient = replace(
        base,
        address=base.address if with_address else None,
        phone=base.phone if with_phone else None,
        identity_status=status,
    )
    if with_traits:
        patient = with_birth_traits(patient)
    record = a_record()
    built = build_message(record, patient, kind)
    values = sidep_hl7._values(record, patient, kind, sidep_hl7.SenderIdentity())
    assert built.text == _build_with_hl7apy(values, patient, with_address=with_address, with_phone=with_phone)


def with_birth_traits(patient: Patient, last: str = "DUPONT", firsts: str = "JEANNE MARIE LOUISE") -> Patient:
    """`patient` with the birth traits INSi checks (a qualified identity always has them)."""
    return replace(patient, birth_last_name=last, birth_first_names=firsts, birth_place="78646")


def test_a_qualified_identity_sends_its_birth_names_as_the_legal_name_and_its_used_names_as_such() -> None:
    # It sent the used names as the legal name (XPN-7 L) beside the INS: names INSi never checked,
    # while the birth traits it did check were not sent.
    used = replace(patients()[0], last_name="Martin", first_name="Jeanne")
    patient = replace(with_birth_traits(used), identity_status=IdentityStatus.QUALIFIED)
    message = hl7.parse(build_message(a_record(), patient, MessageKind.FINAL).text)
    assert field(message, "PID.F3.R1.C5") == "INS" and field(message, "PID.F32") == "QUAL"
    legal = [field(message, f"PID.F5.R1.C{i}") for i in (1, 2, 3, 7)]
    assert legal == ["DUPONT", "JEANNE", "JEANNE MARIE LOUISE", "L"]
    used_name = [field(message, f"PID.F5.R2.C{i}") for i in (1, 2, 3, 7)]
    assert used_name == ["Martin", "Jeanne", "", "D"]
    assert len(message.segment("PID")[5]) == 2  # two repetitions, no more


def test_birth_names_with_delimiters_come_back_intact_from_python_hl7() -> None:
    patient = replace(
        with_birth_traits(patients()[1], last="D'ARC|LAFAYETTE^X", firsts="ANNE&MARIE ~ZOE"),
        identity_status=IdentityStatus.QUALIFIED,
    )
    message = hl7.parse(build_message(a_record(), patient, MessageKind.FINAL).text)
    assert field(message, "PID.F5.R1.C1") == "D'ARC|LAFAYETTE^X"
    assert field(message, "PID.F5.R1.C2") == "ANNE&MARIE"
    assert field(message, "PID.F5.R1.C3") == "ANNE&MARIE ~ZOE"
    assert field(message, "PID.F5.R1.C7") == "L" and field(message, "PID.F5.R2.C7") == "D"


def test_an_identity_without_birth_traits_sends_its_used_names_as_its_one_name() -> None:
    patient = patients()[2]
    assert patient.birth_last_name is None and patient.identity_status is IdentityStatus.PROVISIONAL
    message = hl7.parse(build_message(a_record(), patient, MessageKind.FINAL).text)
    assert field(message, "PID.F5.R1.C1") == patient.last_name
    assert field(message, "PID.F5.R1.C7") == "L"
    assert len(message.segment("PID")[5]) == 1


def test_the_frozen_batch_header_and_trailer_are_what_hl7apy_builds() -> None:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Segment

    messages = [
        build_message(a_record(record_id=f"rec-{i}"), patients()[i], MessageKind.FINAL) for i in range(2)
    ]
    identity = sidep_hl7.SenderIdentity(application="DEP|ISTAGE")  # a delimiter, escaped in both
    batch = build_batch(messages, NOW, identity).payload.decode().split("\r")
    bhs = Segment("BHS", version="2.5.1", validation_level=VALIDATION_LEVEL.TOLERANT)
    bhs.bhs_3 = bhs.bhs_4 = "DEP\\F\\ISTAGE"
    bhs.bhs_5, bhs.bhs_6 = "SI-DEP", "SIDEP"
    bhs.bhs_7 = "20261129120000+0000"
    bhs.bhs_11 = batch_control_id([m.control_id for m in messages])
    bts = Segment("BTS", version="2.5.1", validation_level=VALIDATION_LEVEL.TOLERANT)
    bts.bts_1 = "2"
    # hl7apy serialises BHS-1/BHS-2 like ordinary fields (empty): the delimiters go in as in MSH.
    assert batch[0] == "BHS|^~\\&|" + str(bhs.to_er7()).removeprefix("BHS|||")
    assert batch[-2:] == [str(bts.to_er7()), ""]


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


@pytest.mark.parametrize(
    ("status", "code", "id_type", "authority_oid"),
    [
        (IdentityStatus.PROVISIONAL, "PROV", "NH", ""),
        (IdentityStatus.RECOVERED, "RECUP", "NH", ""),
        (IdentityStatus.VALIDATED, "VALI", "NH", ""),
        (IdentityStatus.QUALIFIED, "QUAL", "INS", "1.2.250.1.213.1.4.8"),
    ],
)
def test_the_ins_oid_is_sent_only_for_a_qualified_identity_and_pid_32_carries_the_status(
    status: IdentityStatus, code: str, id_type: str, authority_oid: str
) -> None:
    patient = replace(patients()[0], identity_status=status)
    message = hl7.parse(build_message(a_record(), patient, MessageKind.FINAL).text)
    assert field(message, "PID.F3.R1.C1") == patient.nir
    assert field(message, "PID.F3.R1.C5") == id_type
    assert field(message, "PID.F3.R1.C4.S2") == authority_oid
    if authority_oid:
        assert field(message, "PID.F3.R1.C4.S1") == "ASIP-SANTE-INS-NIR"
        assert field(message, "PID.F3.R1.C4.S3") == "ISO"
    assert field(message, "PID.F32") == code
    assert "1.2.250.1.213.1.4.8" in build_message(a_record(), patient, MessageKind.FINAL).text or (
        status is not IdentityStatus.QUALIFIED
    )
    if status is not IdentityStatus.QUALIFIED:
        assert "1.2.250.1.213.1.4.8" not in build_message(a_record(), patient, MessageKind.FINAL).text
