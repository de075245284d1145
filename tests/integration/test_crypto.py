"""Envelope encryption and the blind index against KMS on moto."""

from __future__ import annotations

from datetime import date
from typing import Any
from unittest import mock

import boto3
import botocore.exceptions
import botocore.session
import pytest

from chalicelib.adapters.crypto import KmsBlindIndex
from chalicelib.bootstrap import envelope_cipher
from chalicelib.config import get_settings
from chalicelib.domain.errors import IntegrityError, ServiceUnavailable
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
)


class CountingKms:
    """Counts the KMS API calls the encryption SDK makes through a botocore session."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.session = botocore.session.Session()
        self.session.register("before-call.kms.*", self._count)

    def _count(self, **kwargs: Any) -> None:
        self.calls.append(kwargs["model"].name)


def test_round_trip_and_binding(aws: dict[str, str]) -> None:
    cipher = envelope_cipher(get_settings())
    blob = cipher.encrypt(PATIENT, finess="750000010", record_id="r1")
    assert b"Dupont" not in blob and b"295109912611193" not in blob
    assert cipher.decrypt(blob, finess="750000010", record_id="r1") == PATIENT
    with pytest.raises(IntegrityError):
        cipher.decrypt(blob, finess="750000010", record_id="r2")  # moved to another record
    with pytest.raises(IntegrityError):
        cipher.decrypt(blob, finess="130000020", record_id="r1")  # moved to another pharmacy
    with pytest.raises(IntegrityError):
        cipher.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), finess="750000010", record_id="r1")


def test_uses_the_committing_unsigned_suite(aws: dict[str, str]) -> None:
    import aws_encryption_sdk

    blob = envelope_cipher(get_settings()).encrypt(PATIENT, finess="750000010", record_id="r1")
    client = aws_encryption_sdk.EncryptionSDKClient()
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[aws["DATA_KEY_ID"]])
    _, header = client.decrypt(source=blob, key_provider=provider)
    assert header.algorithm.name == "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
    assert len(header.encrypted_data_keys) == 1
    assert header.encryption_context["finess"] == "750000010"
    assert "295109912611193" not in str(header.encryption_context)


def test_data_key_cache_bounds_kms_calls(aws: dict[str, str]) -> None:
    counter = CountingKms()
    cipher = envelope_cipher(get_settings(), botocore_session=counter.session)
    blobs = [cipher.encrypt(PATIENT, finess="750000010", record_id=f"r{i}") for i in range(200)]
    assert counter.calls.count("GenerateDataKey") == 1
    for i, blob in enumerate(blobs):
        cipher.decrypt(blob, finess="750000010", record_id=f"r{i}")
    cipher.encrypt(PATIENT, finess="130000020", record_id="other")
    # a second pharmacy needs its own data key (the cache is keyed by encryption context)
    assert counter.calls.count("GenerateDataKey") == 2
    assert counter.calls.count("Decrypt") <= 1


def test_kms_unavailable_is_a_service_error(aws: dict[str, str]) -> None:
    cipher = envelope_cipher(get_settings())
    failure = botocore.exceptions.EndpointConnectionError(endpoint_url="https://kms")
    with (
        mock.patch("botocore.client.BaseClient._make_api_call", side_effect=failure),
        pytest.raises(ServiceUnavailable),
    ):
        cipher.encrypt(PATIENT, finess="750000010", record_id="r1")


def test_blind_index_is_keyed_per_pharmacy(aws: dict[str, str]) -> None:
    index = KmsBlindIndex(boto3.client("kms"), aws["BLIND_INDEX_KEY_ID"])
    a1 = index.nir_index("295109912611193", finess="750000010")
    assert a1 == index.nir_index("295109912611193", finess="750000010")
    assert a1 != index.nir_index("295109912611193", finess="130000020")
    assert a1 != index.nir_index("185057800608491", finess="750000010")
    assert len(a1) == 64 and "295109912611193" not in a1
    import hashlib

    assert a1 != hashlib.sha256(b"295109912611193").hexdigest()


def test_a_blob_stored_before_the_blob_format_had_a_version_still_decrypts_to_the_same_patient(
    aws: dict[str, str],
) -> None:
    """Encrypted as the cipher did before its codec: same suite, same encryption context, the
    plaintext the API's patient JSON without a version (frozen here as bytes)."""
    import aws_encryption_sdk
    from aws_encryption_sdk import CommitmentPolicy
    from aws_encryption_sdk.identifiers import Algorithm

    from chalicelib.adapters.crypto import PURPOSE

    old_plaintext = (
        b'{"record_id":"r1","finess":"750000010","patient":{"nir":"295109912611193","last_name":"Dupont",'
        b'"first_name":"Jeanne","birth_date":"1995-10-01","sex":"F","email":"jeanne.dupont@example.org",'
        b'"phone":"+33612345678","address":{"line":"1 rue de la Paix","postal_code":"75002",'
        b'"city":"Paris"},"birth_last_name":null,"birth_first_names":null,"birth_place":null,'
        b'"identity_document":null,"identity_status":"provisional"}}'
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[aws["DATA_KEY_ID"]])
    old_blob, _header = client.encrypt(
        source=old_plaintext,
        key_provider=provider,
        encryption_context={"purpose": PURPOSE, "finess": "750000010"},
        algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    )
    cipher = envelope_cipher(get_settings())
    assert cipher.decrypt(old_blob, finess="750000010", record_id="r1") == PATIENT
    with pytest.raises(IntegrityError):
        cipher.decrypt(old_blob, finess="750000010", record_id="r2")


def test_a_new_blob_keeps_the_encryption_context_and_names_its_format(aws: dict[str, str]) -> None:
    import aws_encryption_sdk

    blob = envelope_cipher(get_settings()).encrypt(PATIENT, finess="750000010", record_id="r1")
    client = aws_encryption_sdk.EncryptionSDKClient()
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[aws["DATA_KEY_ID"]])
    plaintext, header = client.decrypt(source=blob, key_provider=provider)
    context = {k: v for k, v in header.encryption_context.items() if not k.startswith("aws-crypto-")}
    assert context == {"purpose": "depistage/patient/v1", "finess": "750000010"}
    assert plaintext.startswith(b'{"v":1,"record_id":"r1","finess":"750000010","patient":{')
