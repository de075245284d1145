"""The stored blob's own format: versioned, apart from the API's JSON, and able to read every blob
already stored (chalicelib/adapters/patient_blob.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from chalicelib import payloads
from chalicelib.adapters import patient_blob
from chalicelib.adapters.patient_blob import BLOB_FORMAT, seal, unseal
from chalicelib.domain.errors import IntegrityError
from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.model import Address, Patient, Sex

PATIENT = Patient(
    nir="295109912611193",
    last_name="Dupont",
    first_name="Jeanne",
    birth_date=date(1995, 10, 1),
    sex=Sex.F,
    email="jeanne.dupont@example.org",
    phone="+33612345678",
    address=Address("1 rue de la Paix", "75002", "Paris"),
    birth_last_name="Martin",
    birth_first_names="Jeanne Marie",
    birth_place="75102",
    identity_document=IdentityDocument.IDENTITY_CARD,
    identity_status=IdentityStatus.VALIDATED,
)

# A plaintext sealed before the format had a version (the API's patient JSON, as the cipher wrote it).
UNVERSIONED = (
    b'{"record_id":"r1","finess":"750000010","patient":{"nir":"295109912611193","last_name":"Dupont",'
    b'"first_name":"Jeanne","birth_date":"1995-10-01","sex":"F","email":"jeanne.dupont@example.org",'
    b'"phone":"+33612345678","address":{"line":"1 rue de la Paix","postal_code":"75002","city":"Paris"},'
    b'"birth_last_name":"Martin","birth_first_names":"Jeanne Marie","birth_place":"75102",'
    b'"identity_document":"identity_card","identity_status":"validated"}}'
)
# One sealed before the INS traits were kept: no traits, no address, a name outside ASCII.
UNVERSIONED_BEFORE_TRAITS = (
    '{"record_id":"r2","finess":"750000010","patient":{"nir":"184127645108946","last_name":"Lefèvre",'
    '"first_name":"Hélène","birth_date":"1984-12-07","sex":"M","email":null,"phone":null,"address":null}}'
).encode()


def test_a_blob_sealed_before_versions_unseals_to_the_same_patient() -> None:
    assert unseal(UNVERSIONED, finess="750000010", record_id="r1") == PATIENT


def test_a_blob_sealed_before_the_ins_traits_unseals_with_a_provisional_identity() -> None:
    assert unseal(UNVERSIONED_BEFORE_TRAITS, finess="750000010", record_id="r2") == Patient(
        nir="184127645108946",
        last_name="Lefèvre",
        first_name="Hélène",
        birth_date=date(1984, 12, 7),
        sex=Sex.M,
    )


def test_a_new_blob_names_its_version_and_keeps_the_fields_of_the_old_ones() -> None:
    plaintext = seal(PATIENT, finess="750000010", record_id="r1")
    sealed = json.loads(plaintext)
    assert sealed.pop("v") == BLOB_FORMAT == 1
    assert sealed == json.loads(UNVERSIONED)
    assert unseal(plaintext, finess="750000010", record_id="r1") == PATIENT


def test_a_field_added_to_the_api_s_patient_body_leaves_the_stored_format_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API renders the patient from its payload declaration: the codec reads none of it."""
    before = seal(PATIENT, finess="750000010", record_id="r1")
    monkeypatch.setattr(payloads, "RECORD", None)
    monkeypatch.setattr(payloads, "PATIENT", None, raising=False)
    assert seal(PATIENT, finess="750000010", record_id="r1") == before
    assert "serialization" not in dir(patient_blob) and "payloads" not in dir(patient_blob)


def test_every_field_of_a_patient_survives_sealing() -> None:
    for patient in (PATIENT, replace(PATIENT, address=None, identity_document=IdentityDocument.NONE)):
        plaintext = seal(patient, finess="750000010", record_id="r9")
        assert unseal(plaintext, finess="750000010", record_id="r9") == patient


def test_a_blob_bound_to_another_record_or_pharmacy_is_refused() -> None:
    plaintext = seal(PATIENT, finess="750000010", record_id="r1")
    with pytest.raises(IntegrityError):
        unseal(plaintext, finess="750000010", record_id="r2")
    with pytest.raises(IntegrityError):
        unseal(plaintext, finess="130000020", record_id="r1")
    with pytest.raises(IntegrityError):
        unseal(UNVERSIONED, finess="750000010", record_id="r2")


@pytest.mark.parametrize("version", [0, 2, "1", True, None])
def test_a_blob_of_a_version_this_code_does_not_know_is_refused_not_guessed(version: object) -> None:
    sealed = json.loads(seal(PATIENT, finess="750000010", record_id="r1"))
    sealed["v"] = version
    with pytest.raises(IntegrityError, match="format"):
        unseal(json.dumps(sealed).encode(), finess="750000010", record_id="r1")


@pytest.mark.parametrize(
    "plaintext",
    [
        b"\xff\xfe",
        b"[]",
        b'{"v":1,"record_id":"r1","finess":"750000010"}',
        b'{"v":1,"record_id":"r1","finess":"750000010","patient":{"nir":"x"}}',
        b'{"v":1,"record_id":"r1","finess":"750000010","patient":[]}',
        b'{"record_id":"r1","finess":"750000010","patient":{"nir":"x","last_name":"a","first_name":"b",'
        b'"birth_date":"1995-13-01","sex":"F"}}',
    ],
)
def test_a_plaintext_that_does_not_decode_is_an_integrity_failure(plaintext: bytes) -> None:
    with pytest.raises(IntegrityError):
        unseal(plaintext, finess="750000010", record_id="r1")
