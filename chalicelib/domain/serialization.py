"""JSON forms the domain stores: times (iso_utc, stored_moment) and the patient sealed in a record's
blob (patient_to_json, patient_from_json). The API's bodies are not here: each is rendered from its
declaration (chalicelib/payloads/responses.py), so a new API field cannot change the stored format."""

from __future__ import annotations

from datetime import UTC as _UTC
from datetime import date, datetime
from typing import Any

from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.model import Address, Patient, Sex


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second, the form of every stored and served timestamp."""
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# What a watcher takes an unreadable stored time for: the oldest moment, so its age alarms.
UNREADABLE_MOMENT = datetime(1970, 1, 1, tzinfo=_UTC)


def stored_moment(text: object) -> datetime:
    """A stored time as a watcher measures an age from it (aware, UTC). A value that is no time
    with its offset (one crafted or damaged item) is UNREADABLE_MOMENT: the oldest, so the age
    alarms, instead of the exception that would stop the watcher for every other item."""
    try:
        moment = parse_iso(str(text))
        return moment.astimezone(_UTC) if moment.tzinfo is not None else UNREADABLE_MOMENT
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved to UTC
        return UNREADABLE_MOMENT


def patient_to_json(patient: Patient) -> dict[str, Any]:
    body: dict[str, Any] = {
        "nir": patient.nir,
        "last_name": patient.last_name,
        "first_name": patient.first_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex.value,
        "email": patient.email,
        "phone": patient.phone,
        "address": None,
        "birth_last_name": patient.birth_last_name,
        "birth_first_names": patient.birth_first_names,
        "birth_place": patient.birth_place,
        "identity_document": patient.identity_document.value if patient.identity_document else None,
        "identity_status": patient.identity_status.value,
    }
    if patient.address is not None:
        body["address"] = {
            "line": patient.address.line,
            "postal_code": patient.address.postal_code,
            "city": patient.address.city,
        }
    return body


def patient_from_json(body: dict[str, Any]) -> Patient:
    address = body.get("address")
    return Patient(
        nir=body["nir"],
        last_name=body["last_name"],
        first_name=body["first_name"],
        birth_date=date.fromisoformat(body["birth_date"]),
        sex=Sex(body["sex"]),
        email=body.get("email"),
        phone=body.get("phone"),
        address=Address(**address) if address else None,
        # blobs sealed before the INS traits were kept have none of them: provisional
        birth_last_name=body.get("birth_last_name"),
        birth_first_names=body.get("birth_first_names"),
        birth_place=body.get("birth_place"),
        identity_document=IdentityDocument(document) if (document := body.get("identity_document")) else None,
        identity_status=IdentityStatus(body.get("identity_status") or IdentityStatus.PROVISIONAL.value),
    )
