"""The field rules: names and free text, postal codes, e-mail and phone, dates, devices, UUIDs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain import model
from chalicelib.domain.devices import device_list
from chalicelib.domain.errors import ValidationFailed
from chalicelib.payloads import (
    parse_submission,
    parse_uuid,
)
from tests.unit.payload_cases import NOW, errors_of, parse, with_patient, with_test

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


# --- UUIDs ------------------------------------------------------------------------------------------------


def test_parse_uuid_returns_the_canonical_form() -> None:
    assert parse_uuid("3F2504E0-4F89-11D3-9A0C-0305E82C3301", "id") == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert parse_uuid("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "id") == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    "value",
    [
        "3f2504e04f8911d39a0c0305e82c3301",  # pragma: allowlist secret
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
