"""HL7 v2.5.1 for SI-DEP: one ORU^R01 per record, BHS/BTS batches, ACK parsing.

The structure of every message is frozen here as constants (segment -> field number -> ER7
text with placeholder tokens); each record gets that template with its values escaped (HL7
escape sequences) and put in place. hl7apy (the reference HL7 library, 15 MiB of HL7 versions)
is a dev dependency only: a unit test builds the same messages field by field with hl7apy and
checks that the bytes are the same. Building every message through hl7apy also cost ~5 ms,
which alone capped the export at ~200 records/s; the template costs microseconds.

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

from chalicelib.domain.identity import IdentityStatus
from chalicelib.domain.model import MessageKind, Patient, ScreeningRecord, ScreeningResult

HL7_VERSION = "2.5.1"
SEGMENT_SEPARATOR = "\r"
# OIDs (ASIP Santé / ANS): INS-NIR identifier, FINESS structure identifier.
INS_NIR_OID = "1.2.250.1.213.1.4.8"
FINESS_OID = "1.2.250.1.71.4.2.2"
LOINC_SARS_COV_2_AG = "94558-4"
LOINC_SARS_COV_2_AG_NAME = "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay"
# Result codes of the EU Digital COVID Certificate value set "test result" (SNOMED CT).
RESULT_CODES: dict[ScreeningResult, tuple[str, str]] = {
    ScreeningResult.POSITIVE: ("260373001", "Detected"),
    ScreeningResult.NEGATIVE: ("260415000", "Not detected"),
    ScreeningResult.INVALID: ("455371000124106", "Invalid result"),
}
# PID-32 Identity Reliability Code (HL7 table 0445, French extension of IHE PAM): what the
# pharmacist's checks and INSi established (chalicelib/domain/identity.py).
RELIABILITY_CODES: dict[IdentityStatus, str] = {
    IdentityStatus.PROVISIONAL: "PROV",
    IdentityStatus.RECOVERED: "RECUP",
    IdentityStatus.VALIDATED: "VALI",
    IdentityStatus.QUALIFIED: "QUAL",
}
# HL7 table 0203 identifier type of the NIR when it is not an INS: the national health plan id.
NATIONAL_HEALTH_PLAN_ID = "NH"


def patient_identifier(nir: str, status: IdentityStatus) -> str:
    """PID-3: the INS (the NIR under the INS OID, type INS) only for a qualified identity, as the
    INS référentiel requires; otherwise the NIR as the national health plan identifier (NH)."""
    if status is IdentityStatus.QUALIFIED:
        return f"{nir}^^^ASIP-SANTE-INS-NIR&{INS_NIR_OID}&ISO^INS"
    return f"{nir}^^^^{NATIONAL_HEALTH_PLAN_ID}"


# PID-5 name type codes (HL7 table 0200): the legal name, and the name the patient uses.
LEGAL_NAME = "L"
USED_NAME = "D"


def patient_names(patient: Patient) -> str:
    """PID-5, escaped: the birth traits INSi checks as the legal name (L: birth last name, first
    birth first name, the list of birth first names), then the used names as such (D: used last
    name, used first name), as IHE PAM France and the INS référentiel encode them (docs/france.md, "The
    patient's identity"). An identity recorded without its birth traits has only its used names,
    sent as its one name (L); it is never qualified (services/records.py: INSi is asked with the
    traits only)."""
    used = f"{escape(patient.last_name)}^{escape(patient.first_name)}^^^^^"
    birth_last, birth_firsts = patient.birth_last_name, patient.birth_first_names
    if not (birth_last and birth_firsts and birth_firsts.split()):
        return used + LEGAL_NAME
    first_birth_first = birth_firsts.split()[0]
    legal = f"{escape(birth_last)}^{escape(first_birth_first)}^{escape(birth_firsts)}^^^^{LEGAL_NAME}"
    return f"{legal}~{used}{USED_NAME}"


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
    reason: str = ""  # SI-DEP's free text (ERR-8): may quote patient values; never stored nor logged
    error_code: str = ""  # ERR-3.1, HL7 table 0357

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
# Message layout, frozen: segment -> {field number: ER7 text}, with QQNAMEQQ tokens where the
# record's values go. This is what hl7apy (the reference HL7 library, a dev dependency) builds
# field by field: tests/unit/test_hl7.py builds the same message with hl7apy and compares bytes.


_TOKEN = re.compile(r"QQ([A-Z0-9]+)QQ")


def _token(name: str) -> str:
    return f"QQ{name}QQ"


_t = _token
MSH_FIELDS: dict[int, str] = {
    3: _t("APP"),
    4: f"{_t('FINESS')}^{FINESS_OID}^ISO",
    5: _t("RAPP"),
    6: _t("RFAC"),
    7: _t("MSGTIME"),
    9: "ORU^R01^ORU_R01",
    10: _t("CONTROLID"),
    11: _t("PROCID"),
    12: HL7_VERSION,
    15: "NE",
    16: "AL",
    18: "UNICODE UTF-8",
}
PID_FIELDS: dict[int, str] = {
    1: "1",
    3: _t("PATIENTID"),  # patient_identifier(): the INS only for a qualified identity
    5: _t("NAMES"),  # patient_names(): the birth names as the legal name, the used names as such
    7: _t("BIRTH"),
    8: _t("SEX"),
    32: _t("RELIABILITY"),  # Identity Reliability Code
}
PID_ADDRESS_FIELDS: dict[int, str] = {11: f"{_t('LINE')}^^{_t('CITY')}^^{_t('POSTAL')}^FRA^H"}
PID_PHONE_FIELDS: dict[int, str] = {13: f"{_t('PHONE')}^PRN^PH^^^^^^^^^{_t('PHONE')}"}
_TEST_CODE = f"{LOINC_SARS_COV_2_AG}^{LOINC_SARS_COV_2_AG_NAME}^LN"
OBR_FIELDS: dict[int, str] = {
    1: "1",
    2: f"{_t('RECORDID')}^{_t('APP')}",
    3: f"{_t('RECORDID')}^{_t('APP')}",
    4: _TEST_CODE,
    7: _t("SAMPLED"),
    22: _t("MSGTIME"),
    25: _t("OBRSTATUS"),
}
OBX_FIELDS: dict[int, str] = {
    1: "1",
    2: "CWE",
    3: _TEST_CODE,
    5: f"{_t('RESULTCODE')}^{_t('RESULTTEXT')}^SCT",
    11: _t("KIND"),
    14: _t("SAMPLED"),
    18: f"{_t('DEVICE')}^EU-DCC-RAT",
}
BHS_FIELDS: dict[int, str] = {
    3: _t("APP"),
    4: _t("APP"),
    5: _t("RAPP"),
    6: _t("RFAC"),
    7: _t("TIME"),
    11: _t("BATCHID"),
}
BTS_FIELDS: dict[int, str] = {1: _t("COUNT")}
# MSH and BHS carry the field separator as field 1 and the encoding characters as field 2.
_HEADER_SEGMENTS = frozenset({"MSH", "BHS"})
ENCODING_CHARACTERS = "^~\\&"


def er7_segment(name: str, fields: dict[int, str]) -> str:
    """One segment in ER7: fields by number, the missing ones empty, none after the last."""
    first = 3 if name in _HEADER_SEGMENTS else 1
    parts = [fields.get(number, "") for number in range(first, max(fields) + 1)]
    head = [name, ENCODING_CHARACTERS] if name in _HEADER_SEGMENTS else [name]
    return "|".join([*head, *parts])


@lru_cache(maxsize=8)
def _template(with_address: bool, with_phone: bool) -> str:
    pid = {
        **PID_FIELDS,
        **(PID_ADDRESS_FIELDS if with_address else {}),
        **(PID_PHONE_FIELDS if with_phone else {}),
    }
    segments = [("MSH", MSH_FIELDS), ("PID", pid), ("OBR", OBR_FIELDS), ("OBX", OBX_FIELDS)]
    return SEGMENT_SEPARATOR.join(er7_segment(name, fields) for name, fields in segments)


def _values(
    record: ScreeningRecord, patient: Patient, kind: MessageKind, identity: SenderIdentity
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
        "RELIABILITY": RELIABILITY_CODES[patient.identity_status],
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
    values["PATIENTID"] = patient_identifier(escape(patient.nir), patient.identity_status)
    values["NAMES"] = patient_names(patient)
    # The message time is the record version's time, so a resend is byte for byte the same.
    values["MSGTIME"] = hl7_datetime(record.updated_at)
    values["SAMPLED"] = hl7_datetime(record.test.sampled_at)
    values["BIRTH"] = hl7_date(patient.birth_date)
    return values


def build_message(
    record: ScreeningRecord, patient: Patient, kind: MessageKind, identity: SenderIdentity | None = None
) -> BuiltMessage:
    """The ORU^R01 of one record version (OBX-11 = kind: F final, C correction, W withdrawn)."""
    identity = identity or SenderIdentity()
    values = _values(record, patient, kind, identity)
    template = _template(patient.address is not None, bool(patient.phone))
    text = _TOKEN.sub(lambda m: values[m.group(1)], template)
    return BuiltMessage(record_id=record.id, control_id=values["CONTROLID"], text=text)


def build_batch(
    messages: Sequence[BuiltMessage], now: datetime, identity: SenderIdentity | None = None
) -> Batch:
    """BHS, the messages, BTS (message count). The batch control id comes from the messages' ids."""
    if not messages:
        raise Hl7Error("a batch needs at least one message")
    identity = identity or SenderIdentity()
    ids = tuple(m.control_id for m in messages)
    batch_id = batch_control_id(ids)
    values = {
        "APP": escape(identity.application),
        "RAPP": escape(identity.receiving_application),
        "RFAC": escape(identity.receiving_facility),
        "TIME": hl7_datetime(now),
        "BATCHID": batch_id,
        "COUNT": str(len(messages)),
    }
    header = _TOKEN.sub(lambda m: values[m.group(1)], er7_segment("BHS", BHS_FIELDS))
    trailer = _TOKEN.sub(lambda m: values[m.group(1)], er7_segment("BTS", BTS_FIELDS))
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
        error_code = ""
        if err is not None and len(err) > 8 and str(err[8]):
            reason = message.unescape(str(err[8]))
        if err is not None and len(err) > 3:
            first = str(err[3]).split("~", 1)[0].split("^", 1)[0]
            error_code = first if first.isdigit() and len(first) <= 4 else ""
        acks[control_id] = Ack(control_id=control_id, code=code, reason=reason[:500], error_code=error_code)
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
