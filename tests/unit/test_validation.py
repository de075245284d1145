"""The pure validation layer: bodies, query strings, FINESS and UUIDs."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain import model
from chalicelib.domain.devices import device_list
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.model import RecordStatus, Role, Sex
from chalicelib.payloads import (
    AuditQuery,
    Invitation,
    ListQuery,
    finess_with_check_digit,
    parse_audit_query,
    parse_invitation,
    parse_list_query,
    parse_pharmacy,
    parse_result_update,
    parse_submission,
    parse_uuid,
    validate_finess,
)
from testkit.patients import PATIENTS, personal_needles
from testkit.patients import screening_body as make_body

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MAX_AGE_DAYS = 7


def parse(body: object) -> Any:
    return parse_submission(body, now=NOW, max_age_days=MAX_AGE_DAYS)


def errors_of(body: object) -> dict[str, str]:
    """field -> message of every error parse_submission reports (one message a field in these tests)."""
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    return {error.field: error.message for error in caught.value.errors}


def with_patient(**changes: Any) -> dict[str, Any]:
    body = make_body(0)
    body["patient"].update(changes)
    return body


def with_test(**changes: Any) -> dict[str, Any]:
    body = make_body(0)
    body["test"].update(changes)
    return body


def luhn_ok(digits: str) -> bool:
    """An independent Luhn check, to cross-check the FINESS vectors."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


# --- whole bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(PATIENTS)))
def test_the_test_patients_are_valid(index: int) -> None:
    submission = parse(make_body(index))
    patient = PATIENTS[index]
    assert submission.patient.nir == patient["nir"].replace(" ", "").upper()
    assert submission.patient.last_name == patient["last_name"]
    assert submission.patient.birth_date == date.fromisoformat(patient["birth_date"])
    assert submission.patient.sex == Sex(patient["sex"])
    assert submission.test.kind is model.ScreeningKind.ANTIGEN
    assert submission.test.result is model.ScreeningResult.NEGATIVE


def test_normalised_values() -> None:
    submission = parse(make_body(1))
    assert submission.patient.nir == "185057800608491"
    assert submission.patient.phone == "+33698765432"
    assert submission.patient.address is not None
    assert submission.patient.address.postal_code == "78000"
    assert submission.test.device_id == "1232"
    assert submission.test.sampled_at == datetime(2026, 11, 29, 9, 15, tzinfo=UTC)
    assert submission.test.sampled_at.utcoffset() == timedelta(hours=1)  # the given offset is kept


def test_corsican_nir_is_upper_cased() -> None:
    body = make_body(2)
    body["patient"]["nir"] = "2 69 05 2a 123 456 88"
    submission = parse(body)
    assert submission.patient.nir == "269052A12345688"


def test_optional_fields_absent_or_null() -> None:
    body = make_body(0)
    for key in ("email", "phone", "address"):
        del body["patient"][key]
    del body["test"]["result"]
    submission = parse(body)
    assert (submission.patient.email, submission.patient.phone, submission.patient.address) == (None,) * 3
    assert submission.test.result is None
    submission = parse(with_patient(email=None, phone=None, address=None))
    assert (submission.patient.email, submission.patient.phone, submission.patient.address) == (None,) * 3
    assert parse(with_test(result=None)).test.result is None


@pytest.mark.parametrize("body", [None, [], "text", 42, True, [make_body(0)]])
def test_body_must_be_an_object(body: object) -> None:
    assert errors_of(body) == {"body": "must be a JSON object"}


def test_patient_and_test_are_required() -> None:
    assert errors_of({}) == {"patient": "is required", "test": "is required"}
    assert errors_of({"patient": None, "test": None}) == {
        "patient": "must be a JSON object",
        "test": "must be a JSON object",
    }


def test_unknown_fields_are_rejected_at_every_level() -> None:
    body = make_body(0)
    body["extra"] = 1
    body["patient"]["favourite_colour"] = "blue"
    body["patient"]["address"]["floor"] = 3
    body["test"]["lab"] = None
    assert errors_of(body) == {
        "extra": "is not an allowed field",
        "patient.favourite_colour": "is not an allowed field",
        "patient.address.floor": "is not an allowed field",
        "test.lab": "is not an allowed field",
    }


def test_unknown_field_names_that_could_be_personal_data_are_not_echoed() -> None:
    body = with_patient(**{"Jeanne Dupont": 1, "295109912611193": 2})
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    fields = [error.field for error in caught.value.errors]
    assert fields == ["patient.?", "patient.?"]


def test_a_flood_of_unknown_fields_is_capped() -> None:
    body = with_patient(**{f"extra_{i:02d}": i for i in range(30)})
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    assert len(caught.value.errors) == 11
    assert caught.value.errors[-1].field == "patient"


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("patient", "nir", 295109912611193, "must be a string"),
        ("patient", "last_name", ["Dupont"], "must be a string"),
        ("patient", "birth_date", 19951001, "must be a string"),
        ("patient", "sex", None, "must be a string"),
        ("patient", "email", {"a": 1}, "must be a string"),
        ("patient", "phone", 33612345678, "must be a string"),
        ("patient", "address", "1 rue de la Paix", "must be a JSON object"),
        ("test", "device_id", 1232, "must be a string"),
        ("test", "sampled_at", 1796000000, "must be a string"),
        ("test", "result", True, "must be a string"),
        ("test", "kind", 1, "must be a string"),
    ],
)
def test_wrong_json_types(section: str, field: str, value: object, message: str) -> None:
    body = make_body(0)
    body[section][field] = value
    assert errors_of(body) == {f"{section}.{field}": message}


def test_all_errors_of_a_body_are_reported_together() -> None:
    body = {
        "patient": {
            "nir": "295109912611199",
            "last_name": "Dup0nt",
            "first_name": "",
            "birth_date": "2099-01-01",
            "sex": "X",
            "email": "not-an-email",
            "phone": "12",
            "address": {"line": "\x00", "postal_code": "96000", "city": "x" * 101},
            "shoe_size": 42,
        },
        "test": {"kind": "pcr", "device_id": "12a", "sampled_at": "2026-11-29T10:15:00", "result": "maybe"},
        "extra": True,
    }
    assert set(errors_of(body)) == {
        "patient.nir",
        "patient.last_name",
        "patient.first_name",
        "patient.birth_date",
        "patient.sex",
        "patient.email",
        "patient.phone",
        "patient.address.line",
        "patient.address.postal_code",
        "patient.address.city",
        "patient.shoe_size",
        "test.kind",
        "test.device_id",
        "test.sampled_at",
        "test.result",
        "extra",
    }


def test_missing_required_fields_are_each_named() -> None:
    body: dict[str, Any] = {"patient": {"address": {}}, "test": {}}
    assert errors_of(body) == {
        "patient.nir": "is required",
        "patient.last_name": "is required",
        "patient.first_name": "is required",
        "patient.birth_date": "is required",
        "patient.sex": "is required",
        "patient.address.line": "is required",
        "patient.address.postal_code": "is required",
        "patient.address.city": "is required",
        "test.kind": "is required",
        "test.device_id": "is required",
        "test.sampled_at": "is required",
    }


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_submission(make_body(0), now=datetime(2026, 11, 29, 12, 0), max_age_days=7)


# --- NIR in a body ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nir", "message"),
    [
        ("295109912611199", "has a wrong key"),
        ("2951099126111", "must have 15 characters (13 plus a 2-digit key)"),
        ("29510991261119A", "must contain digits only (2A or 2B for Corsica)"),
        ("269052A12345689", "has a wrong key"),
        ("178032B01234528", "has a wrong key"),
    ],
)
def test_bad_nirs(nir: str, message: str) -> None:
    assert errors_of(with_patient(nir=nir)) == {"patient.nir": message}


def test_nir_must_agree_with_sex() -> None:
    assert errors_of(with_patient(sex="M")) == {"patient.nir": "does not agree with patient.sex"}


@pytest.mark.parametrize("birth_date", ["1996-10-01", "1995-11-01"])
def test_nir_must_agree_with_birth_year_and_month(birth_date: str) -> None:
    assert errors_of(with_patient(birth_date=birth_date)) == {
        "patient.nir": "does not agree with patient.birth_date"
    }


def test_nir_with_unknown_month_accepts_any_month_of_its_year() -> None:
    # 2 95 99 ...: born in 1995, month unknown
    first13 = "2959999126111"
    nir = first13 + f"{97 - int(first13) % 97:02d}"
    assert parse(with_patient(nir=nir, birth_date="1995-03-14")).patient.nir == nir


def test_nir_agreement_is_not_checked_against_invalid_sex_or_birth_date() -> None:
    assert errors_of(with_patient(sex="X", birth_date="nope")) == {
        "patient.sex": "must be one of: F, M",
        "patient.birth_date": "must be a date in the form YYYY-MM-DD",
    }


# --- names and free text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Dupont  ", "Dupont"),
        ("E\u0301tienne", "Étienne"),  # decomposed input is stored composed (NFC)
        ("O'Brien", "O'Brien"),
        ("N’Diaye", "N’Diaye"),
        ("St. John-Smith", "St. John-Smith"),
        ("Łukasz Żółć", "Łukasz Żółć"),
        ("x" * 100, "x" * 100),
    ],
)
def test_accepted_names(raw: str, stored: str) -> None:
    submission = parse(with_patient(first_name=raw))
    assert submission.patient.first_name == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("Du\x00pont", "must not contain control characters"),
        ("Dupont\n", "must not contain control characters"),
        ("Du\tpont", "must not contain control characters"),
        ("Du\u202epont", "must not contain control characters"),  # bidi override (Cf)
        ("Du\u200bpont", "must not contain control characters"),  # zero-width space (Cf)
        ("Du\u2028pont", "must not contain control characters"),  # line separator
        ("x" * 101, "must be at most 100 characters"),
        ("x" * 1000, "must be at most 100 characters"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("Dupont2", "may contain only letters, spaces, hyphens, apostrophes and periods"),
        ("<script>", "may contain only letters, spaces, hyphens, apostrophes and periods"),
        ("Du{pont}", "may contain only letters, spaces, hyphens, apostrophes and periods"),
        ("Du\u00a0pont", "may contain only letters, spaces, hyphens, apostrophes and periods"),
        ("-.'", "must contain a letter"),
    ],
)
def test_refused_names(raw: str, message: str) -> None:
    assert errors_of(with_patient(last_name=raw)) == {"patient.last_name": message}


def test_name_length_is_counted_after_nfc() -> None:
    decomposed = "e\u0301" * 100  # 200 code points, 100 once composed
    assert parse(with_patient(last_name=decomposed)).patient.last_name == "é" * 100


def test_address_text() -> None:
    address = {"line": "  3 bis, rue de l’Église (bât. B)  ", "postal_code": "13001", "city": "Marseille 1er"}
    submission = parse(with_patient(address=address))
    assert submission.patient.address is not None
    assert submission.patient.address.line == "3 bis, rue de l’Église (bât. B)"
    assert submission.patient.address.city == "Marseille 1er"
    address = {"line": "x" * 201, "postal_code": "13001", "city": "Mar\nseille"}
    assert errors_of(with_patient(address=address)) == {
        "patient.address.line": "must be at most 200 characters",
        "patient.address.city": "must not contain control characters",
    }


@pytest.mark.parametrize(
    "postal_code", ["75002", "01000", "20000", "20200", "95000", "97100", "97600", "98800"]
)
def test_accepted_postal_codes(postal_code: str) -> None:
    body = with_patient(address={"line": "1 rue", "postal_code": postal_code, "city": "X"})
    assert parse(body).patient.address.postal_code == postal_code


@pytest.mark.parametrize(
    ("postal_code", "message"),
    [
        ("7500", "must be 5 digits"),
        ("750021", "must be 5 digits"),
        ("75 002", "must be 5 digits"),
        ("2A000", "must be 5 digits"),
        ("٧٥٠٠٢", "must be 5 digits"),  # Arabic-Indic digits
        ("00100", "must start with a French département number (01–95, 97 or 98)"),
        ("96000", "must start with a French département number (01–95, 97 or 98)"),
        ("99000", "must start with a French département number (01–95, 97 or 98)"),
    ],
)
def test_refused_postal_codes(postal_code: str, message: str) -> None:
    body = with_patient(address={"line": "1 rue", "postal_code": postal_code, "city": "X"})
    assert errors_of(body) == {"patient.address.postal_code": message}


# --- e-mail and phone ---------------------------------------------------------------------------------


def test_email_is_normalised() -> None:
    assert parse(with_patient(email="Jeanne.Dupont@EXAMPLE.Org")).patient.email == "Jeanne.Dupont@example.org"


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("jeanne.dupont", "is not a valid e-mail address"),
        ("jeanne@@example.org", "is not a valid e-mail address"),
        ("jeanne@localhost", "is not a valid e-mail address"),
        ("Jeanne <jeanne@example.org>", "is not a valid e-mail address"),
        ("", "must not be empty (omit it or send null)"),
        ("a" * 250 + "@example.org", "must be at most 254 characters"),
    ],
)
def test_refused_emails(email: str, message: str) -> None:
    assert errors_of(with_patient(email=email)) == {"patient.email": message}


@pytest.mark.parametrize(
    ("phone", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("+33612345678", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("+32 470 12 34 56", "+32470123456"),  # a Belgian mobile
    ],
)
def test_accepted_phones(phone: str, e164: str) -> None:
    assert parse(with_patient(phone=phone)).patient.phone == e164


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("12", "is not a valid phone number"),
        ("06 12 34", "is not a valid phone number"),
        ("+33 0 12 34 56 78 99", "is not a valid phone number"),
        ("not a phone", "is not a phone number"),
        ("06 12 34 56 78 ext. 12", "must not have an extension"),
        ("", "must not be empty (omit it or send null)"),
        ("0" * 41, "must be at most 40 characters"),
    ],
)
def test_refused_phones(phone: str, message: str) -> None:
    assert errors_of(with_patient(phone=phone)) == {"patient.phone": message}


# --- dates ----------------------------------------------------------------------------------------------


def test_birth_date_bounds() -> None:
    # NIR 1 26 11 ...: a boy born in November 2026, tested on his birth day
    first13 = "1261199126111"
    newborn = first13 + f"{97 - int(first13) % 97:02d}"
    assert parse(with_patient(nir=newborn, sex="M", birth_date="2026-11-29")).patient.birth_date == NOW.date()
    assert parse(with_patient(nir=newborn, sex="M", birth_date="2026-11-30")).patient.birth_date  # UTC+14
    assert errors_of(with_patient(nir=newborn, sex="M", birth_date="2026-11-31")) == {
        "patient.birth_date": "is not a valid calendar date"
    }
    first13 = "1261299126111"
    december = first13 + f"{97 - int(first13) % 97:02d}"
    assert errors_of(with_patient(nir=december, sex="M", birth_date="2026-12-01")) == {
        "patient.birth_date": "must not be in the future"
    }


def test_birth_date_before_1900_is_refused() -> None:
    # 1899 shares 99 with 1999: only the date rule fires
    first13 = "2991099126111"
    nir = first13 + f"{97 - int(first13) % 97:02d}"
    assert parse(with_patient(nir=nir, birth_date="1999-10-01")).patient.birth_date == date(1999, 10, 1)
    assert errors_of(with_patient(nir=nir, birth_date="1899-10-01")) == {
        "patient.birth_date": "must not be before 1900-01-01"
    }


@pytest.mark.parametrize("raw", ["01/10/1995", "1995-1-1", "19951001", "1995-10-01T00:00:00", " 1995-10-01"])
def test_birth_date_format(raw: str) -> None:
    assert errors_of(with_patient(birth_date=raw)) == {
        "patient.birth_date": "must be a date in the form YYYY-MM-DD"
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-29T10:15:00+01:00", datetime(2026, 11, 29, 9, 15, tzinfo=UTC)),
        ("2026-11-29T09:15:00Z", datetime(2026, 11, 29, 9, 15, tzinfo=UTC)),
        ("2026-11-29t09:15:00z", datetime(2026, 11, 29, 9, 15, tzinfo=UTC)),
        ("2026-11-29 09:15:00Z", datetime(2026, 11, 29, 9, 15, tzinfo=UTC)),
        ("2026-11-29T09:15:00.123456789Z", datetime(2026, 11, 29, 9, 15, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T23:15:00-10:00", datetime(2026, 11, 29, 9, 15, tzinfo=UTC)),
        ("2026-11-29T12:04:59Z", datetime(2026, 11, 29, 12, 4, 59, tzinfo=UTC)),  # within the clock skew
        ("2026-11-22T12:00:00Z", datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),  # exactly max age
    ],
)
def test_accepted_sampled_at(raw: str, expected: datetime) -> None:
    assert parse(with_test(sampled_at=raw)).test.sampled_at == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2026-11-29T10:15:00", "must include a time zone offset (Z or ±hh:mm)"),
        ("2026-11-29T10:15:00.5", "must include a time zone offset (Z or ±hh:mm)"),
        ("2026-11-29", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
        ("2026-11-29T10:15+01:00", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
        ("20261129T101500+0100", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
        ("2026-11-29T10:15:00+01", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
        ("2026-02-30T10:15:00Z", "is not a valid date-time"),
        ("2026-11-29T25:15:00Z", "is not a valid date-time"),
        ("2026-11-29T10:15:00+25:00", "is not a valid date-time"),
        ("2026-11-29T12:05:01Z", "must not be in the future"),
        ("2026-11-30T10:15:00+01:00", "must not be in the future"),
        ("2026-11-22T11:59:59Z", "must be within the last 7 days"),
    ],
)
def test_refused_sampled_at(raw: str, message: str) -> None:
    assert errors_of(with_test(sampled_at=raw)) == {"test.sampled_at": message}


def test_clock_skew_is_configurable() -> None:
    body = with_test(sampled_at="2026-11-29T12:01:00Z")
    with pytest.raises(ValidationFailed):
        parse_submission(body, now=NOW, max_age_days=7, clock_skew=timedelta(0))
    assert parse_submission(body, now=NOW, max_age_days=7).test.sampled_at.minute == 1


# --- test section -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("device_id", ["308", "1232", "1833"])
def test_accepted_device_ids(device_id: str) -> None:
    assert parse(with_test(device_id=device_id)).test.device_id == device_id


@pytest.mark.parametrize("device_id", ["1", "1234", "1234567890"])
def test_a_device_id_not_on_the_eu_common_list_is_refused(device_id: str) -> None:
    assert errors_of(with_test(device_id=device_id)) == {
        "test.device_id": "is not on the EU common list of test devices"
    }


def test_a_device_taken_off_the_list_is_refused_from_the_day_it_left() -> None:
    # 1065 (BD Veritor) left the list on 2021-05-11 in the snapshot
    left = device_list().get("1065")
    assert left is not None and not left.active and left.since.isoformat() == "2021-05-11"
    assert errors_of(with_test(device_id="1065")) == {
        "test.device_id": "was no longer on the EU common list on the sampling day"
    }
    before = with_test(device_id="1065", sampled_at="2021-05-10T23:00:00+02:00")
    now = datetime(2021, 5, 11, 8, tzinfo=UTC)
    assert parse_submission(before, now=now, max_age_days=90).test.device_id == "1065"
    on_the_day = with_test(device_id="1065", sampled_at="2021-05-11T07:00:00+02:00")
    with pytest.raises(ValidationFailed) as caught:
        parse_submission(on_the_day, now=now, max_age_days=90)
    assert [e.field for e in caught.value.errors] == ["test.device_id"]


def test_the_device_snapshot_is_dated_and_keeps_the_contract_example() -> None:
    snapshot = device_list()
    assert snapshot.value_set_date.isoformat() == "2021-07-01"
    assert "eu-dcc-valuesets" in snapshot.source and snapshot.fetched.isoformat() == "2026-12-01"
    example = snapshot.get("1232")
    assert example is not None and example.active
    assert example.name == "Abbott Rapid Diagnostics, Panbio COVID-19 Ag Rapid Test"
    assert len(snapshot.devices) == 88


@pytest.mark.parametrize("device_id", ["", "12345678901", "12a", " 1232", "1232\n", "١٢٣", "-1"])
def test_refused_device_ids(device_id: str) -> None:
    assert errors_of(with_test(device_id=device_id)) == {
        "test.device_id": "must be an EU common list device id: 1 to 10 digits"
    }


def test_kind_and_result_are_closed_lists() -> None:
    assert errors_of(with_test(kind="pcr", result="POSITIVE")) == {
        "test.kind": "must be one of: antigen",
        "test.result": "must be one of: positive, negative, invalid",
    }
    assert parse(with_test(result="positive")).test.result is model.ScreeningResult.POSITIVE
    assert parse(with_test(result="invalid")).test.result is model.ScreeningResult.INVALID


# --- PUT result -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "result"),
    [
        ({"result": "positive"}, model.ScreeningResult.POSITIVE),
        ({"result": "negative"}, model.ScreeningResult.NEGATIVE),
        ({"result": "invalid"}, model.ScreeningResult.INVALID),
        ({"result": None}, None),
    ],
)
def test_result_update(body: object, result: model.ScreeningResult | None) -> None:
    assert parse_result_update(body) == result


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"result": "is required"}),
        ({"result": "pending"}, {"result": "must be one of: positive, negative, invalid"}),
        ({"result": 1}, {"result": "must be a string"}),
        ({"result": None, "note": "x"}, {"note": "is not an allowed field"}),
        (["positive"], {"body": "must be a JSON object"}),
        (None, {"body": "must be a JSON object"}),
    ],
)
def test_refused_result_updates(body: object, errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_result_update(body)
    assert {e.field: e.message for e in caught.value.errors} == errors


# --- FINESS, pharmacies and invitations -------------------------------------------------------------------

VALID_FINESS = ["750000010", "130000011", "2A0000016", "2B0000016", "970100004", "010000016"]


@pytest.mark.parametrize("finess", VALID_FINESS)
def test_valid_finess(finess: str) -> None:
    assert luhn_ok(finess.replace("A", "0").replace("B", "0"))  # independent check of the vector
    assert validate_finess(finess) == finess
    assert finess_with_check_digit(finess[:8]) == finess


def test_finess_is_upper_cased() -> None:
    assert validate_finess("2a0000016") == "2A0000016"


@pytest.mark.parametrize(
    ("finess", "message"),
    [
        ("750000011", "has a wrong check digit"),
        ("2A0000015", "has a wrong check digit"),
        ("75000001", "must have 9 characters"),
        ("7500000100", "must have 9 characters"),
        ("", "must have 9 characters"),
        (
            finess_with_check_digit("20000001"),
            "must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits",
        ),
        (
            finess_with_check_digit("96000001"),
            "must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits",
        ),
        (
            finess_with_check_digit("00000001"),
            "must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits",
        ),
        ("2C0000016", "must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits"),
        ("75000A010", "must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits"),
        (750000010, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_invalid_finess(finess: object, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_finess(finess, field="path.finess")
    assert [(e.field, e.message) for e in caught.value.errors] == [("path.finess", message)]


def test_a_pharmacy_zone_comes_from_its_finess_unless_onboarding_names_a_french_one() -> None:
    reunion = finess_with_check_digit("97400001")
    assert parse_pharmacy({"finess": reunion, "name": "Pharmacie du Port"})[2] == "Indian/Reunion"
    marquesas = {"finess": finess_with_check_digit("98700001"), "name": "P", "time_zone": "Pacific/Marquesas"}
    assert parse_pharmacy(marquesas)[2] == "Pacific/Marquesas"
    with pytest.raises(ValidationFailed) as caught:
        parse_pharmacy({"finess": reunion, "name": "P", "time_zone": "America/New_York"})
    assert [e.field for e in caught.value.errors] == ["time_zone"]
    assert "America/New_York" not in caught.value.errors[0].message


def test_finess_prefix_must_have_8_characters() -> None:
    with pytest.raises(ValueError, match="8 characters"):
        finess_with_check_digit("7500001")


def test_parse_pharmacy() -> None:
    assert parse_pharmacy({"finess": "750000010", "name": "  Pharmacie de la Paix "}) == (
        "750000010",
        "Pharmacie de la Paix",
        "Europe/Paris",
    )
    with pytest.raises(ValidationFailed) as caught:
        parse_pharmacy({"finess": "750000011", "name": "Pharmacie\x07", "owner": "x"})
    assert {e.field: e.message for e in caught.value.errors} == {
        "finess": "has a wrong check digit",
        "name": "must not contain control characters",
        "owner": "is not an allowed field",
    }
    with pytest.raises(ValidationFailed) as caught:
        parse_pharmacy({"name": "x" * 201})
    assert {e.field: e.message for e in caught.value.errors} == {
        "finess": "is required",
        "name": "must be at most 200 characters",
    }


@pytest.mark.parametrize("role", [Role.PHARMACIST, Role.PHARMACY_ADMIN])
def test_parse_invitation(role: Role) -> None:
    assert parse_invitation({"email": "Alice@Example.ORG", "role": role.value}) == Invitation(
        role=role, email="Alice@example.org"
    )


@pytest.mark.parametrize(
    ("body", "national_id"),
    [
        ({"national_id": "810001234567", "role": "pharmacist"}, "810001234567"),
        ({"national_id": " ans20231122132732 ", "role": "pharmacist"}, "ANS20231122132732"),
        ({"rpps": "10001234567", "role": "pharmacy_admin"}, "810001234567"),
    ],
)
def test_an_invitation_by_national_identifier_or_rpps_names_the_psc_national_id(
    body: dict[str, str], national_id: str
) -> None:
    invitation = parse_invitation(body)
    assert invitation.national_id == national_id and invitation.email is None


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"rpps": "1234", "role": "pharmacist"}, {"rpps": "must be 11 digits"}),
        (
            {"national_id": "81-0001", "role": "pharmacist"},
            {
                "national_id": "must be 10 to 20 letters or digits "
                "(RPPS professionals: 8 followed by the RPPS number)"
            },
        ),
        (
            {"national_id": "810001234567", "email": "a@example.org", "role": "pharmacist"},
            {"national_id": "send one of email, national_id and rpps"},
        ),
    ],
)
def test_refused_invitations_by_national_identifier_name_the_field_without_its_value(
    body: dict[str, str], errors: dict[str, str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_invitation(body)
    assert {e.field: e.message for e in caught.value.errors} == errors


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"email": "alice@example.org", "role": "platform_admin"},
            {"role": "must be one of: pharmacist, pharmacy_admin"},
        ),
        ({"email": "nope", "role": "pharmacist"}, {"email": "is not a valid e-mail address"}),
        (
            {"role": "pharmacist", "finess": "750000010"},
            {"email": "is required", "finess": "is not an allowed field"},
        ),
        ({"email": None, "role": None}, {"email": "must be a string", "role": "must be a string"}),
        ("alice@example.org", {"body": "must be a JSON object"}),
    ],
)
def test_refused_invitations(body: object, errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_invitation(body)
    assert {e.field: e.message for e in caught.value.errors} == errors


# --- query strings --------------------------------------------------------------------------------------

TODAY = date(2026, 11, 29)


def test_list_query_defaults() -> None:
    assert parse_list_query(None, today=TODAY) == ListQuery(day=TODAY, status=None, limit=50, cursor=None)
    assert parse_list_query({}, today=TODAY) == ListQuery(day=TODAY)


def test_list_query_values() -> None:
    query = parse_list_query(
        {"date": "2026-11-01", "status": "sent", "limit": "100", "cursor": "eyJrIjoxfQ=="}, today=TODAY
    )
    assert query == ListQuery(
        day=date(2026, 11, 1), status=RecordStatus.SENT, limit=100, cursor="eyJrIjoxfQ=="
    )
    assert parse_list_query({"limit": "1", "cursor": "a-b_c"}, today=TODAY).limit == 1


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"date": "29/11/2026"}, {"date": "must be a date in the form YYYY-MM-DD"}),
        ({"date": ""}, {"date": "must be a date in the form YYYY-MM-DD"}),
        (
            {"status": "lost"},
            {"status": "must be one of: pending, ready, sent, acknowledged, rejected, cancelled"},
        ),
        ({"limit": "0"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "101"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "-5"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "ten"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "１０"}, {"limit": "must be an integer from 1 to 100"}),  # fullwidth digits
        ({"limit": "9" * 5000}, {"limit": "must be an integer from 1 to 100"}),
        ({"cursor": "a+b/c"}, {"cursor": "is not a valid cursor"}),
        ({"cursor": ""}, {"cursor": "is not a valid cursor"}),
        ({"cursor": "a" * 2049}, {"cursor": "must be at most 2048 characters"}),
        (
            {"sort": "asc", "finess": "750000010"},
            {"sort": "is not an allowed query parameter", "finess": "is not an allowed query parameter"},
        ),
    ],
)
def test_refused_list_queries(params: dict[str, str], errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_list_query(params, today=TODAY)
    assert {e.field: e.message for e in caught.value.errors} == errors


def test_list_query_accepts_a_cursor_of_maximum_length() -> None:
    assert parse_list_query({"cursor": "a" * 2048}, today=TODAY).cursor == "a" * 2048


def test_audit_query_defaults_and_values() -> None:
    assert parse_audit_query(None, now=NOW) == AuditQuery(from_=None, to=None, limit=100, cursor=None)
    query = parse_audit_query(
        {"from": "2026-11-01T00:00:00Z", "to": "2026-11-29T13:00:00+01:00", "limit": "500", "cursor": "abc"},
        now=NOW,
    )
    assert query.from_ == datetime(2026, 11, 1, tzinfo=UTC)
    assert query.to == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert (query.limit, query.cursor) == (500, "abc")


def test_audit_query_reads_an_unencoded_plus_in_the_offset() -> None:
    # "+01:00" sent unencoded in a query string arrives as " 01:00"
    query = parse_audit_query({"from": "2026-11-29T10:00:00 01:00"}, now=NOW)
    assert query.from_ == datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"from": "2026-11-01T00:00:00"}, {"from": "must include a time zone offset (Z or ±hh:mm)"}),
        ({"to": "2026-11-01"}, {"to": "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"}),
        (
            {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            {"from": "must not be later than to"},
        ),
        ({"from": "2026-11-30T00:00:00Z"}, {"from": "must not be in the future"}),
        ({"limit": "501"}, {"limit": "must be an integer from 1 to 500"}),
        ({"date": "2026-11-01"}, {"date": "is not an allowed query parameter"}),
    ],
)
def test_refused_audit_queries(params: dict[str, str], errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_audit_query(params, now=NOW)
    assert {e.field: e.message for e in caught.value.errors} == errors


# --- UUIDs ------------------------------------------------------------------------------------------------


def test_parse_uuid_returns_the_canonical_form() -> None:
    assert parse_uuid("3F2504E0-4F89-11D3-9A0C-0305E82C3301", "id") == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert parse_uuid("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "id") == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    "value",
    [
        "3f2504e04f8911d39a0c0305e82c3301",
        "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
        "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301\n",
        "3g2504e0-4f89-11d3-9a0c-0305e82c3301",
        "",
        None,
        42,
    ],
)
def test_parse_uuid_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_uuid(value, "Idempotency-Key")
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("Idempotency-Key", "must be a UUID (8-4-4-4-12 hexadecimal digits)")
    ]


# --- no error ever quotes a submitted value ---------------------------------------------------------------

# Distinctive values, each invalid in some way, for every field that takes text.
LEAKY_BODIES: list[dict[str, Any]] = [
    {
        "patient": {
            "nir": "1 84 12 76 451 089 46",  # wrong key
            "last_name": "Zyxwvutsrq<b>",
            "first_name": "Quixotelle9",
            "birth_date": "1884-12-31",
            "sex": "Androgynoid",
            "email": "quixotelle.zyx@@leak-example.org",
            "phone": "+33 7 99 88 77 66 55 44",
            "address": {"line": "77 impasse Zyxwvut\x01", "postal_code": "96123", "city": "Zyxville\x02"},
        },
        "test": {
            "kind": "quixotic-kind",
            "device_id": "98765x4321",
            "sampled_at": "2031-07-14T09:08:07",
            "result": "borderline-ish",
        },
    },
    {
        "patient": {
            "nir": "2 84 12 76 451 089 4X",  # letter
            "last_name": "Zyxwvutsrq" * 11,
            "first_name": "Quixo\u202etelle",
            "birth_date": "2084-13-45",
            "sex": "female",
            "email": "Quixotelle Zyx <quixotelle@leak-example.org>",
            "phone": "quixotelle-phone",
            "address": {"line": "Zyxwvut " * 40, "postal_code": "7512A", "city": "Zyxville" * 20},
        },
        "test": {
            "kind": "ANTIGEN-ZYX",
            "device_id": "98765432101234",
            "sampled_at": "2019-03-04T05:06:07+02:00",
        },
    },
    {
        "patient": {
            "nir": "2 95 10 99 126 111 93",  # valid, but disagrees with sex and birth date below
            "last_name": "Zyxwvutsrq",
            "first_name": "Quixotelle",
            "birth_date": "1977-04-03",
            "sex": "M",
            "email": "quixotelle@zyx",
            "phone": "06 99 88 77 66 ext 4321",
        },
        "test": {"kind": "antigen", "device_id": "9876543", "sampled_at": "2031-07-14T09:08:07+00:00"},
    },
]


def _strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings_in(item)]
    return []


def _needles(body: object) -> set[str]:
    """Every 6-character window of every submitted string (spaces dropped too): a truncated or
    partial quote is still a leak."""
    window = 6
    needles: set[str] = set()
    for text in _strings_in(body):
        for variant in (text, text.replace(" ", "")):
            needles |= {variant[i : i + window] for i in range(len(variant) - window + 1)}
    return {needle for needle in needles if needle.strip()}


@pytest.mark.parametrize("body", LEAKY_BODIES)
def test_no_error_message_contains_a_submitted_value(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(copy.deepcopy(body))
    failure = caught.value
    assert len(failure.errors) >= 5  # the bodies really exercise many rules
    texts = (
        [failure.detail, str(failure)]
        + [e.message for e in failure.errors]
        + [e.field for e in failure.errors]
    )
    rendered = json.dumps(
        [failure.detail] + [[e.field, e.message] for e in failure.errors], ensure_ascii=False
    )
    for needle in _needles(body):
        assert not any(needle in text for text in texts), "an error quotes a submitted value"
        assert needle not in rendered


def test_other_parsers_do_not_quote_values_either() -> None:
    bodies: list[tuple[Any, object]] = [
        (parse_pharmacy, {"finess": "75ZYXWVUT", "name": "Quixotelle\x00Pharma"}),
        (parse_pharmacy, {"finess": "7512345678901", "name": "Q" * 300}),
        (parse_invitation, {"email": "quixotelle@@zyxwvut.org", "role": "overlord-zyx"}),
        (parse_invitation, {"email": "Quixotelle Zyx <quixotelle@zyxwvut.org>", "role": "Zyxwvut-admin"}),
        (parse_result_update, {"result": "quixotic-result"}),
        (
            lambda b: parse_list_query(b, today=TODAY),
            {"date": "2026-19-45", "status": "zyxwvut", "limit": "98765", "cursor": "zyx/wvut+quixote"},
        ),
        (lambda b: parse_audit_query(b, now=NOW), {"from": "2031-07-14T09:08:07", "to": "quixotelle-to"}),
        (lambda b: validate_finess(b), "2Z7654321"),
        (lambda b: parse_uuid(b, "id"), "zyxwvut-quixotelle"),
    ]
    for parser, body in bodies:
        with pytest.raises(ValidationFailed) as caught:
            parser(body)
        texts = [caught.value.detail] + [e.message for e in caught.value.errors]
        for needle in _needles(body if isinstance(body, dict) else {"value": body}):
            assert not any(needle in text for text in texts)


@pytest.mark.parametrize("index", range(len(PATIENTS)))
def test_errors_about_test_patients_quote_none_of_their_values(index: int) -> None:
    body = make_body(index)
    # keep every personal value, but break the body around it so that many rules run
    body["patient"]["sex"] = "F" if body["patient"]["sex"] == "M" else "M"
    body["patient"]["birth_date"] = body["patient"]["birth_date"][:4] + "-13-01"
    body["patient"]["nir"] = body["patient"]["nir"][:-1] + ("0" if body["patient"]["nir"][-1] != "0" else "1")
    body["patient"]["unexpected"] = True
    body["test"]["sampled_at"] = "2026-11-29T10:15:00"
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    rendered = json.dumps([[e.field, e.message] for e in caught.value.errors] + [caught.value.detail])
    rendered_unicode = json.dumps([[e.field, e.message] for e in caught.value.errors], ensure_ascii=False)
    for needle in personal_needles():
        assert needle not in rendered
        assert needle not in rendered_unicode


def test_ins_traits_are_optional_and_checked_when_present() -> None:
    body = make_body(0)
    body["patient"].update(
        {"birth_last_name": "Papadopoulou", "birth_first_names": "Jeanne Eleni", "birth_place": "2a004"}
    )
    body["patient"]["identity_document"] = "passport"
    patient = parse_submission(body, now=NOW, max_age_days=90).patient
    assert (patient.birth_place, patient.identity_document) == ("2A004", IdentityDocument.PASSPORT)
    assert patient.identity_status is IdentityStatus.PROVISIONAL  # the service derives it
    assert parse_submission(make_body(0), now=NOW, max_age_days=90).patient.birth_place is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth_place", "99999", "is not a commune or country of INSEE's code list"),
        ("birth_place", "96001", "is not a commune or country of INSEE's code list"),
        (
            "birth_place",
            "7505",
            "must be an INSEE code: 5 characters (a commune, 2A/2B in Corsica, or 99 and a country)",
        ),
        ("birth_last_name", "Dupont3", "may contain only letters, spaces, hyphens, apostrophes and periods"),
        (
            "identity_document",
            "driving_licence",
            "must be one of: passport, identity_card, birth_certificate, family_record_book, none",
        ),
    ],
)
def test_ins_traits_errors_name_the_field_and_echo_nothing(field: str, value: str, message: str) -> None:
    body = make_body(0)
    body["patient"][field] = value
    assert errors_of(body) == {f"patient.{field}": message}
