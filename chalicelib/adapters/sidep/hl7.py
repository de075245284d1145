"""HL7 v2.5.1 for SI-DEP: one ORU^R01 per record, BHS/BTS batches, ACK parsing.

The structure of every message is built by hl7apy (the reference HL7 library): once per
process and per message shape (with or without address / phone), hl7apy builds the ORU^R01
with placeholder tokens in place of the per-record values and serialises it to ER7. Each
record then gets that template with its values escaped (HL7 escape sequences) and put in
place. Building every message through hl7apy costs ~5 ms, which alone would cap the export at
~200 records/s; the template keeps hl7apy's segment/field layout and costs microseconds. A unit
test checks that the template path and a full hl7apy build give the same bytes.

ACKs are parsed with python-hl7 (`hl7`), which is fast and independent of the builder.

Nothing here logs, and no exception message carries a field value: the message text contains
the patient's identity.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from chalicelib.domain.model import MessageKind, Patient, TestRecord, TestResult

HL7_VERSION = "2.5.1"
SEGMENT_SEPARATOR = "\r"
# OIDs (ASIP Santé / ANS): INS-NIR identifier, FINESS structure identifier.
INS_NIR_OID = "1.2.250.1.213.1.4.8"
FINESS_OID = "1.2.250.1.71.4.2.2"
LOINC_SARS_COV_2_AG = "94558-4"
LOINC_SARS_COV_2_AG_NAME = "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay"
# Result codes of the EU Digital COVID Certificate value set "test result" (SNOMED CT).
RESULT_CODES: dict[TestResult, tuple[str, str]] = {
    TestResult.POSITIVE: ("260373001", "Detected"),
    TestResult.NEGATIVE: ("260415000", "Not detected"),
    TestResult.INVALID: ("455371000124106", "Invalid result"),
}
# OBR-25 (result status of the order) mirrors OBX-11; a withdrawal cancels the order (X).
_OBR_STATUS = {MessageKind.FINAL: "F", MessageKind.CORRECTION: "C", MessageKind.WITHDRAWAL: "X"}
CONTROL_ID_LENGTH = 20  # MSH-10 is at most 20 characters in v2.5.1


class Hl7Error(ValueError):
    """A message or an ACK could not be built or read (the text never says which value)."""


@dataclass(frozen=True)
class SenderIdentity:
    """Who sends (MSH-3/BHS-3) to whom (MSH-5/6), and the processing id (P production, T test)."""

    application: str = "DEPISTAGE"
    receiving_application: str = "SI-DEP"
    receiving_facility: str = "SIDEP"
    processing_id: str = "P"


@dataclass(frozen=True)
class BuiltMessage:
    record_id: str
    control_id: str
    text: str  # ER7, segments separated by CR, no trailing CR


@dataclass(frozen=True)
class Batch:
    control_id: str
    message_ids: tuple[str, ...]  # the messages' control ids, in batch order
    payload: bytes  # UTF-8 ER7: BHS, the messages, BTS


class AckCode(StrEnum):
    AA = "AA"  # accepted
    AE = "AE"  # error: rejected, with a reason
    AR = "AR"  # rejected (e.g. malformed)


@dataclass(frozen=True)
class Ack:
    control_id: str  # MSA-2: the acknowledged message's control id
    code: AckCode
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.code is AckCode.AA


def _short_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:CONTROL_ID_LENGTH]


def message_control_id(record_id: str, version: int, kind: MessageKind) -> str:
    """Stable for one record version and message kind: a resend is recognisably the same message."""
    return _short_hash(f"{record_id}|{version}|{kind.value}")


def batch_control_id(message_ids: Sequence[str]) -> str:
    """Derived from the sorted message ids, so a retried batch keeps its id (the idempotency key)."""
    return _short_hash("|".join(sorted(message_ids)))


_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(value: str) -> str:
    """HL7 escape sequences for the delimiters; line breaks become spaces (they end segments)."""
    for raw, escaped in _ESCAPES:
        value = value.replace(raw, escaped)
    return value.replace("\r", " ").replace("\n", " ")


def hl7_datetime(moment: datetime) -> str:
    """DTM in UTC with an explicit offset, to the second."""
    if moment.tzinfo is None:
        raise Hl7Error("a timestamp has no time zone")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def hl7_date(day: date) -> str:
    return day.strftime("%Y%m%d")


# ---------------------------------------------------------------------------------------------
# Message construction with hl7apy


_TOKEN = re.compile(r"QQ([A-Z0-9]+)QQ")


def _token(name: str) -> str:
    return f"QQ{name}QQ"


def _build_with_hl7apy(values: dict[str, str], *, with_address: bool, with_phone: bool) -> str:
    """The ORU^R01 built field by field with hl7apy. `values` are ER7-ready (already escaped)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message

    v = values
    msg = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = v["APP"]
    msh.msh_4 = f"{v['FINESS']}^{FINESS_OID}^ISO"
    msh.msh_5 = v["RAPP"]
    msh.msh_6 = v["RFAC"]
    msh.msh_7 = v["MSGTIME"]
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = v["CONTROLID"]
    msh.msh_11 = v["PROCID"]
    msh.msh_12 = HL7_VERSION
    msh.msh_15 = "NE"
    msh.msh_16 = "AL"
    msh.msh_18 = "UNICODE UTF-8"

    result = msg.add_group("ORU_R01_PATIENT_RESULT")
    pid = result.add_group("ORU_R01_PATIENT").add_segment("PID")
    pid.pid_1 = "1"
    pid.pid_3 = f"{v['NIR']}^^^ASIP-SANTE-INS-NIR&{INS_NIR_OID}&ISO^INS"
    pid.pid_5 = f"{v['LAST']}^{v['FIRST']}^^^^^L"
    pid.pid_7 = v["BIRTH"]
    pid.pid_8 = v["SEX"]
    if with_address:
        pid.pid_11 = f"{v['LINE']}^^{v['CITY']}^^{v['POSTAL']}^FRA^H"
    if with_phone:
        pid.pid_13 = f"{v['PHONE']}^PRN^PH^^^^^^^^^{v['PHONE']}"

    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    obr = order.add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_2 = f"{v['RECORDID']}^{v['APP']}"
    obr.obr_3 = f"{v['RECORDID']}^{v['APP']}"
    obr.obr_4 = f"{LOINC_SARS_COV_2_AG}^{LOINC_SARS_COV_2_AG_NAME}^LN"
    obr.obr_7 = v["SAMPLED"]
    obr.obr_22 = v["MSGTIME"]
    obr.obr_25 = v["OBRSTATUS"]
    obx = order.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
    obx.obx_1 = "1"
    obx.obx_2 = "CWE"
    obx.obx_3 = f"{LOINC_SARS_COV_2_AG}^{LOINC_SARS_COV_2_AG_NAME}^LN"
    obx.obx_5 = f"{v['RESULTCODE']}^{v['RESULTTEXT']}^SCT"
    obx.obx_11 = v["KIND"]
    obx.obx_14 = v["SAMPLED"]
    obx.obx_18 = f"{v['DEVICE']}^EU-DCC-RAT"
    return str(msg.to_er7())


_FIELDS = [
    "APP",
    "FINESS",
    "RAPP",
    "RFAC",
    "MSGTIME",
    "CONTROLID",
    "PROCID",
    "NIR",
    "LAST",
    "FIRST",
    "BIRTH",
    "SEX",
    "LINE",
    "CITY",
    "POSTAL",
    "PHONE",
    "RECORDID",
    "SAMPLED",
    "OBRSTATUS",
    "RESULTCODE",
    "RESULTTEXT",
    "KIND",
    "DEVICE",
]


@lru_cache(maxsize=8)
def _template(with_address: bool, with_phone: bool) -> str:
    return _build_with_hl7apy(
        {name: _token(name) for name in _FIELDS}, with_address=with_address, with_phone=with_phone
    )


def _values(
    record: TestRecord, patient: Patient, kind: MessageKind, identity: SenderIdentity
) -> dict[str, str]:
    result_code, result_text = RESULT_CODES[record.test.result] if record.test.result else ("", "")
    address = patient.address
    raw = {
        "APP": identity.application,
        "FINESS": record.finess,
        "RAPP": identity.receiving_application,
        "RFAC": identity.receiving_facility,
        "CONTROLID": message_control_id(record.id, record.version, kind),
        "PROCID": identity.processing_id,
        "NIR": patient.nir,
        "LAST": patient.last_name,
        "FIRST": patient.first_name,
        "SEX": patient.sex.value,
        "LINE": address.line if address else "",
        "CITY": address.city if address else "",
        "POSTAL": address.postal_code if address else "",
        "PHONE": patient.phone or "",
        "RECORDID": record.id,
        "OBRSTATUS": _OBR_STATUS[kind],
        "RESULTCODE": result_code,
        "RESULTTEXT": result_text,
        "KIND": kind.value,
        "DEVICE": record.test.device_id,
    }
    values = {name: escape(value) for name, value in raw.items()}
    # The message time is the record version's time, so a resend is byte for byte the same.
    values["MSGTIME"] = hl7_datetime(record.updated_at)
    values["SAMPLED"] = hl7_datetime(record.test.sampled_at)
    values["BIRTH"] = hl7_date(patient.birth_date)
    return values


def build_message(
    record: TestRecord, patient: Patient, kind: MessageKind, identity: SenderIdentity | None = None
) -> BuiltMessage:
    """The ORU^R01 of one record version (OBX-11 = kind: F final, C correction, W withdrawn)."""
    identity = identity or SenderIdentity()
    values = _values(record, patient, kind, identity)
    template = _template(patient.address is not None, bool(patient.phone))
    text = _TOKEN.sub(lambda m: values[m.group(1)], template)
    return BuiltMessage(record_id=record.id, control_id=values["CONTROLID"], text=text)


@lru_cache(maxsize=2)
def _batch_frame(application: str, receiving_application: str, receiving_facility: str) -> tuple[str, str]:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Segment

    bhs = Segment("BHS", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    bhs.bhs_3 = escape(application)
    bhs.bhs_4 = escape(application)
    bhs.bhs_5 = escape(receiving_application)
    bhs.bhs_6 = escape(receiving_facility)
    bhs.bhs_7 = _token("TIME")
    bhs.bhs_11 = _token("BATCHID")
    bts = Segment("BTS", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    bts.bts_1 = _token("COUNT")
    # hl7apy serialises BHS like any segment and would escape the delimiters in BHS-1/BHS-2:
    # put them in as MSH does (the field separator is BHS-1 itself).
    bhs_text = str(bhs.to_er7())
    if not bhs_text.startswith("BHS|||"):
        raise Hl7Error("unexpected BHS layout")
    return "BHS|^~\\&|" + bhs_text.removeprefix("BHS|||"), str(bts.to_er7())


def build_batch(
    messages: Sequence[BuiltMessage], now: datetime, identity: SenderIdentity | None = None
) -> Batch:
    """BHS, the messages, BTS (message count). The batch control id comes from the messages' ids."""
    if not messages:
        raise Hl7Error("a batch needs at least one message")
    identity = identity or SenderIdentity()
    ids = tuple(m.control_id for m in messages)
    batch_id = batch_control_id(ids)
    bhs, bts = _batch_frame(identity.application, identity.receiving_application, identity.receiving_facility)
    values = {"TIME": hl7_datetime(now), "BATCHID": batch_id, "COUNT": str(len(messages))}
    header = _TOKEN.sub(lambda m: values[m.group(1)], bhs)
    trailer = _TOKEN.sub(lambda m: values[m.group(1)], bts)
    text = SEGMENT_SEPARATOR.join([header, *(m.text for m in messages), trailer]) + SEGMENT_SEPARATOR
    return Batch(control_id=batch_id, message_ids=ids, payload=text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# ACKs


def parse_acks(payload: bytes | str) -> dict[str, Ack]:
    """The ACKs of a response (one ACK message, or a BHS/BTS batch of them), by MSA-2 control id."""
    import hl7

    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not text:
        raise Hl7Error("empty acknowledgement")
    try:
        parsed = hl7.parse_hl7(text)
    except Exception:  # the parser's message may quote the input: do not chain it
        raise Hl7Error("unreadable acknowledgement") from None
    messages = _messages_of(parsed)
    acks: dict[str, Ack] = {}
    for message in messages:
        try:
            msa = message.segment("MSA")
        except KeyError as exc:
            raise Hl7Error("an acknowledgement has no MSA segment") from exc
        code_text = str(msa[1]) if len(msa) > 1 else ""
        control_id = str(msa[2]) if len(msa) > 2 else ""
        try:
            code = AckCode(code_text)
        except ValueError as exc:
            raise Hl7Error("an acknowledgement has an unknown MSA-1 code") from exc
        reason = message.unescape(str(msa[3])) if len(msa) > 3 else ""
        err = _first_segment(message, "ERR")
        if err is not None and len(err) > 8 and str(err[8]):
            reason = message.unescape(str(err[8]))
        acks[control_id] = Ack(control_id=control_id, code=code, reason=reason[:500])
    return acks


def _messages_of(parsed: Any) -> list[Any]:
    import hl7

    if isinstance(parsed, hl7.Message):
        return [parsed]
    if isinstance(parsed, hl7.Batch):
        return list(parsed)
    if isinstance(parsed, hl7.File):
        return [message for batch in parsed for message in batch]
    raise Hl7Error("unexpected acknowledgement structure")


def _first_segment(message: Any, name: str) -> Any:
    try:
        return message.segment(name)
    except KeyError:
        return None
