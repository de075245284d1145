"""Envelope encryption of personal data (aws-encryption-sdk + KMS) and the keyed NIR blind index.

Suite: AES_256_GCM_HKDF_SHA512_COMMIT_KEY, committing and unsigned. A signature (the SDK's
default ECDSA suites) protects against a reader who may decrypt but must not be able to
forge; here the only readers and writers are our own functions, one trust domain, so the
signature buys nothing and costs ~2 ms and a KMS-free but CPU-heavy step per record.
Key commitment stays on: a ciphertext decrypts under exactly one data key.

The SDK (and cryptography, attrs, wrapt with it) is imported when the cipher first encrypts or
decrypts, not with the app: a function that never does (the journal, the stream handler) never
loads it, and `import app` stays near a bare `import boto3` (measured by `make bench`, bench/cold_start.py).

Binding: the encryption context {purpose, finess} is authenticated and checked on decrypt
(a blob moved to another pharmacy fails); the record id is sealed inside the plaintext
and checked after decrypt (a blob moved to another record of the same pharmacy fails).
The record id is not in the context because the data-key cache reuses a key only for an
identical context: per-record contexts would mean one KMS call per record.

The plaintext's format is the blob codec's (chalicelib/adapters/patient_blob.py), versioned and
apart from the API's JSON, so that no API change alters what is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import botocore.session

from chalicelib.adapters.patient_blob import seal, unseal
from chalicelib.domain.errors import IntegrityError, ServiceUnavailable
from chalicelib.domain.model import Patient

if TYPE_CHECKING:
    from aws_encryption_sdk import EncryptionSDKClient
    from aws_encryption_sdk.identifiers import Algorithm
    from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager
    from mypy_boto3_kms import KMSClient

PURPOSE = "depistage/patient/v1"


@dataclass(frozen=True)
class DataKeyCache:
    """How far one data key goes: at most `max_messages` records for at most `max_age_seconds` in one
    process, and at most `capacity` keys kept (Settings' data_key_cache_* fields)."""

    max_age_seconds: int
    max_messages: int
    capacity: int


@dataclass(frozen=True)
class _Sdk:
    client: EncryptionSDKClient
    materials: CachingCryptoMaterialsManager
    algorithm: Algorithm
    kms_failures: tuple[type[Exception], ...]  # "KMS (or the network to it) failed", not "this blob is bad"

    @classmethod
    def build(cls, key_id: str, cache: DataKeyCache, session: botocore.session.Session) -> _Sdk:
        import aws_encryption_sdk
        from aws_encryption_sdk import CommitmentPolicy
        from aws_encryption_sdk.identifiers import Algorithm

        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[key_id], botocore_session=session
        )
        return cls(
            client=aws_encryption_sdk.EncryptionSDKClient(
                commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
                max_encrypted_data_keys=1,
            ),
            materials=aws_encryption_sdk.CachingCryptoMaterialsManager(
                master_key_provider=provider,
                cache=aws_encryption_sdk.LocalCryptoMaterialsCache(capacity=cache.capacity),
                max_age=float(cache.max_age_seconds),
                max_messages_encrypted=cache.max_messages,
            ),
            algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            kms_failures=(
                aws_encryption_sdk.exceptions.GenerateKeyError,
                aws_encryption_sdk.exceptions.EncryptKeyError,
                botocore.exceptions.BotoCoreError,
                botocore.exceptions.ClientError,
            ),
        )


# KMS answers that say "this ciphertext or key is wrong", not "KMS is unavailable right now".
_KMS_REFUSALS = frozenset(
    {"InvalidCiphertextException", "IncorrectKeyException", "InvalidKeyUsageException", "NotFoundException"}
)


class EnvelopeCipher:
    """PersonalDataCipher over aws-encryption-sdk with a bounded data-key cache."""

    def __init__(
        self, key_id: str, cache: DataKeyCache, botocore_session: botocore.session.Session | None = None
    ) -> None:
        if not key_id:
            raise ValueError("DATA_KEY_ID is not set")
        self._key_id = key_id
        self._cache = cache
        self._session = botocore_session or botocore.session.Session()
        # The SDK turns a failed KMS Decrypt into "Unable to decrypt any data key" and drops the
        # cause: remember this thread's last KMS answer to tell a throttle (503) from a bad blob.
        self._last_kms = threading.local()
        self._session.register("after-call.kms", self._note_kms_answer)
        self._sdk: _Sdk | None = None
        self._sdk_lock = threading.Lock()

    def _engine(self) -> _Sdk:
        """The SDK's client and caching materials manager, built once, on first use."""
        if self._sdk is None:
            with self._sdk_lock:
                if self._sdk is None:
                    self._sdk = _Sdk.build(self._key_id, self._cache, self._session)
        return self._sdk

    def _note_kms_answer(self, **kwargs: Any) -> None:
        failed = getattr(kwargs.get("http_response"), "status_code", 200) >= 300
        parsed = kwargs.get("parsed") or {}
        self._last_kms.error = parsed.get("Error", {}).get("Code", "") if failed else None

    def _kms_failed(self) -> bool:
        error = getattr(self._last_kms, "error", None)
        return error is not None and error not in _KMS_REFUSALS

    @staticmethod
    def _context(finess: str) -> dict[str, str]:
        return {"purpose": PURPOSE, "finess": finess}

    def encrypt(self, patient: Patient, *, finess: str, record_id: str) -> bytes:
        plaintext = seal(patient, finess=finess, record_id=record_id)
        sdk = self._engine()
        try:
            ciphertext, _header = sdk.client.encrypt(
                source=plaintext,
                materials_manager=sdk.materials,
                encryption_context=self._context(finess),
                algorithm=sdk.algorithm,
            )
        except sdk.kms_failures as exc:
            raise ServiceUnavailable("The key service is unavailable; nothing was stored.") from exc
        return bytes(ciphertext)

    def decrypt(self, blob: bytes, *, finess: str, record_id: str) -> Patient:
        self._last_kms.error = None
        sdk = self._engine()
        try:
            plaintext, header = sdk.client.decrypt(source=blob, materials_manager=sdk.materials)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The key service is unavailable.") from exc
        except Exception as exc:  # malformed, truncated or forged: the SDK and cryptography raise many types
            if self._kms_failed():
                raise ServiceUnavailable("The key service is unavailable.") from exc
            raise IntegrityError("A stored record failed its integrity check.") from exc
        context = header.encryption_context
        if context.get("purpose") != PURPOSE or context.get("finess") != finess:
            raise IntegrityError("A stored record is bound to another pharmacy.")
        return unseal(plaintext, finess=finess, record_id=record_id)


class KmsBlindIndex:
    """HMAC-SHA-256 under a per-pharmacy key that KMS derives and never releases its root of.

    The per-pharmacy key is KMS GenerateMac(HMAC key, "blind-index/v1|" + FINESS): deterministic,
    so it is derived once per pharmacy per process and kept in memory only. The same NIR at two
    pharmacies gives unrelated values; a plain hash would be enumerable (10^13 NIRs).
    """

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        if not key_id:
            raise ValueError("BLIND_INDEX_KEY_ID is not set")
        self._kms = kms_client
        self._key_id = key_id
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _pharmacy_key(self, finess: str) -> bytes:
        key = self._keys.get(finess)
        if key is None:
            try:
                answer = self._kms.generate_mac(
                    KeyId=self._key_id,
                    MacAlgorithm="HMAC_SHA_256",
                    Message=f"depistage/blind-index/v1|{finess}".encode(),
                )
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise ServiceUnavailable("The key service is unavailable.") from exc
            key = bytes(answer["Mac"])
            with self._lock:
                self._keys[finess] = key
        return key

    def _mac(self, purpose: str, data: bytes, finess: str) -> str:
        return hmac.new(
            self._pharmacy_key(finess), purpose.encode() + b"|" + data, hashlib.sha256
        ).hexdigest()

    def nir_index(self, nir: str, *, finess: str) -> str:
        return self._mac("nir", nir.encode(), finess)

    def fingerprint(self, data: bytes, *, finess: str) -> str:
        """A keyed digest of other data (an idempotent request's body), unlinkable across pharmacies."""
        return self._mac("body", data, finess)
