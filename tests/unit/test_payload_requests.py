"""The request bodies: a whole submission, the NIR in it, a result, a pharmacy, an invitation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain import model
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.model import Role, Sex
from chalicelib.payloads import (
    Invitation,
    finess_with_check_digit,
    parse_invitation,
    parse_pharmacy,
    parse_result_update,
    parse_submission,
    validate_finess,
)
from testkit.patients import PATIENTS
from testkit.patients import screening_body as make_body
from tests.unit.payload_cases import NOW, errors_of, parse, with_patient, with_test


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
    assert submission.patient.nir == "269052A12345688"  # pragma: allowlist secret


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
        ("269052A12345689", "has a wrong key"),  # pragma: allowlist secret
        ("178032B01234528", "has a wrong key"),  # pragma: allowlist secret
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
            {"national_id": "send exactly one of email, national_id and rpps"},
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
