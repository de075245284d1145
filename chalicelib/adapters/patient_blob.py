"""The plaintext sealed in a record's encrypted blob: its own versioned format, apart from the API's.

A stored blob outlives every release, so its format is declared here once and changes only by a
new version: a field added to the API's patient body (chalicelib/domain/serialization.py) leaves
the blobs as they are. The cipher (chalicelib/adapters/crypto.py) encrypts what `seal` writes and
gives `unseal` what it decrypted; the encryption context is the cipher's, not this format's.

Version 1, compact UTF-8 JSON:
    {"v": 1, "record_id": ..., "finess": ..., "patient": {"nir", "last_name", "first_name",
     "birth_date" (ISO date), "sex", "email", "phone", "address" ({"line", "postal_code", "city"}
     or null), "birth_last_name", "birth_first_names", "birth_place", "identity_document",
     "identity_status"}}
Blobs sealed before the format carried a version have no "v": they are version 1 (the same fields;
the oldest lack the INS traits, read as absent, their identity provisional).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from chalicelib.domain.errors import IntegrityError
from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.model import Address, Patient, Sex

BLOB_FORMAT = 1
_UNVERSIONED = 1  # the version of a blob that names none: sealed before versions were written


def _patient_fields(patient: Patient) -> dict[str, Any]:
    address = patient.address
    return {
        "nir": patient.nir,
        "last_name": patient.last_name,
        "first_name": patient.first_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex.value,
        "email": patient.email,
        "phone": patient.phone,
        "address": (
            None
            if address is None
            else {"line": address.line, "postal_code": address.postal_code, "city": address.city}
        ),
        "birth_last_name": patient.birth_last_name,
        "birth_first_names": patient.birth_first_names,
        "birth_place": patient.birth_place,
        "identity_document": patient.identity_document.value if patient.identity_document else None,
        "identity_status": patient.identity_status.value,
    }


def _patient(fields: dict[str, Any]) -> Patient:
    address = fields.get("address")
    document = fields.get("identity_document")
    return Patient(
        nir=fields["nir"],
        last_name=fields["last_name"],
        first_name=fields["first_name"],
        birth_date=date.fromisoformat(fields["birth_date"]),
        sex=Sex(fields["sex"]),
        email=fields.get("email"),
        phone=fields.get("phone"),
        address=Address(address["line"], address["postal_code"], address["city"]) if address else None,
        birth_last_name=fields.get("birth_last_name"),
        birth_first_names=fields.get("birth_first_names"),
        birth_place=fields.get("birth_place"),
        identity_document=IdentityDocument(document) if document else None,
        identity_status=IdentityStatus(fields.get("identity_status") or IdentityStatus.PROVISIONAL.value),
    )


def seal(patient: Patient, *, finess: str, record_id: str) -> bytes:
    """The plaintext to encrypt: the patient, bound to its record and pharmacy, in format BLOB_FORMAT."""
    sealed = {"v": BLOB_FORMAT, "record_id": record_id, "finess": finess, "patient": _patient_fields(patient)}
    return json.dumps(sealed, separators=(",", ":"), ensure_ascii=False).encode()


def unseal(plaintext: bytes, *, finess: str, record_id: str) -> Patient:
    """The patient of a decrypted blob, of any version stored; IntegrityError if the blob is bound to
    another record or pharmacy, names a version this code cannot read, or does not decode."""
    try:
        sealed = json.loads(plaintext)
    except ValueError as exc:  # UnicodeDecodeError included
        raise IntegrityError("A stored record failed its integrity check.") from exc
    if not isinstance(sealed, dict):
        raise IntegrityError("A stored record failed its integrity check.")
    version = sealed.get("v", _UNVERSIONED)
    if isinstance(version, bool) or version != BLOB_FORMAT:
        raise IntegrityError("A stored record has a format this version cannot read.")
    if sealed.get("record_id") != record_id or sealed.get("finess") != finess:
        raise IntegrityError("A stored record is bound to another record.")
    try:
        return _patient(sealed["patient"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError("A stored record failed its integrity check.") from exc
