"""Test patients shared by the suite. Their personal values must never reach a log, an error
body or a DynamoDB attribute in clear; the log scanner and the storage tests look for them."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from chalicelib.domain.model import Address, Patient, Sex

# NIRs valid per python-stdnum (key = 97 - first 13 digits mod 97), agreeing with sex and birth date.
PATIENTS: list[dict[str, Any]] = [
    {
        "nir": "2 95 10 99 126 111 93",
        "last_name": "Dupont",
        "first_name": "Jeanne",
        "birth_date": "1995-10-01",
        "sex": "F",
        "email": "jeanne.dupont@example.org",
        "phone": "+33612345678",
        "address": {"line": "1 rue de la Paix", "postal_code": "75002", "city": "Paris"},
    },
    {
        "nir": "1 85 05 78 006 084 91",
        "last_name": "Martin",
        "first_name": "Étienne",
        "birth_date": "1985-05-17",
        "sex": "M",
        "email": "etienne.martin@example.net",
        "phone": "06 98 76 54 32",
        "address": {"line": "12 avenue Foch", "postal_code": "78000", "city": "Versailles"},
    },
    {
        "nir": "2 69 05 2A 123 456 88",
        "last_name": "Casanova",
        "first_name": "Maria-Lucia",
        "birth_date": "1969-05-23",
        "sex": "F",
    },
    {
        "nir": "1 78 03 2B 012 345 29",
        "last_name": "Paoli",
        "first_name": "Pasquale",
        "birth_date": "1978-03-04",
        "sex": "M",
        "phone": "+33 4 95 12 34 56",
    },
]


# INS traits of the first two test patients (their birth places agree with their NIRs: 99126 is
# Greece for Jeanne, 78006 a commune of Yvelines for Étienne).
INS_TRAITS: list[dict[str, str]] = [
    {"birth_last_name": "Papadopoulou", "birth_first_names": "Jeanne Eleni", "birth_place": "99126"},
    {"birth_last_name": "Martin-Quéméner", "birth_first_names": "Étienne Yves Marie", "birth_place": "78006"},
]


def ins_body(index: int = 0, document: str | None = "identity_card", **test: Any) -> dict[str, Any]:
    """A test body for patient `index` with its INS traits and the identity document seen."""
    body = screening_body(index, **test)
    body["patient"].update(INS_TRAITS[index])
    if document is not None:
        body["patient"]["identity_document"] = document
    return body


def screening_body(
    index: int = 0, result: str | None = "negative", sampled_at: str = "2026-11-29T10:15:00+01:00"
) -> dict[str, Any]:
    """A valid POST /v1/tests body for test patient `index`."""
    return {
        "patient": copy.deepcopy(PATIENTS[index]),
        "test": {"kind": "antigen", "device_id": "1232", "sampled_at": sampled_at, "result": result},
    }


def personal_needles() -> list[str]:
    """Every personal value of the test patients, in the spellings a leak could take."""
    needles: set[str] = set()
    for p in PATIENTS:
        nir = p["nir"].replace(" ", "")
        needles |= {nir, p["nir"], nir[:13]}
        needles |= {p["last_name"], p["first_name"], p["birth_date"]}
        needles.add(p["birth_date"].replace("-", ""))  # HL7 DTM form
        for key in ("email", "phone"):
            if p.get(key):
                needles.add(p[key])
        if p.get("phone"):
            digits = "".join(c for c in p["phone"] if c.isdigit())
            needles.add(digits[-9:])  # national significant number, any prefix
        if p.get("address"):
            needles.add(p["address"]["line"])
    for traits in INS_TRAITS:
        needles |= {traits["birth_last_name"], traits["birth_first_names"]}
    return sorted(needles)


def patient(index: int) -> Patient:
    """Test patient `index` as the domain holds them (normalised NIR, E.164 phone)."""
    p = PATIENTS[index % len(PATIENTS)]
    address = p.get("address")
    return Patient(
        nir=p["nir"].replace(" ", ""),
        last_name=p["last_name"],
        first_name=p["first_name"],
        birth_date=date.fromisoformat(p["birth_date"]),
        sex=Sex(p["sex"]),
        email=p.get("email"),
        phone=_e164(p.get("phone")),
        address=Address(**address) if address else None,
    )


def _e164(phone: str | None) -> str | None:
    if not phone:
        return None
    import phonenumbers

    return phonenumbers.format_number(phonenumbers.parse(phone, "FR"), phonenumbers.PhoneNumberFormat.E164)
