"""Our second token issuer: short-lived access tokens for Pro Santé Connect logins.

PSC's own tokens are for PSC's resources; the API accepts only tokens issued for it. After a
PSC login has been verified (chalicelib/services/psc_login.py) we issue an access token shaped
like Cognito's (`token_use=access`, `client_id`, `username`, RS256) plus the FINESS of the pharmacy
PSC vouched for (`finess`: the token is valid at that pharmacy only), signed by an asymmetric
KMS key (RSA_2048, RSASSA_PKCS1_V1_5_SHA_256): the private key never leaves KMS, and the
middleware verifies these tokens on the same path as Cognito's, with this module's public key
(also published as a JWKS at GET /v1/psc/jwks.json).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any, Literal

import botocore.exceptions

from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated
from chalicelib.domain.psc import PSC_SESSION_CLIENT_ID, REQUIRED_ACR, SESSION_FINESS_CLAIM
from chalicelib.ports import Clock

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

SIGNING_ALGORITHM: Literal["RSASSA_PKCS1_V1_5_SHA_256"] = "RSASSA_PKCS1_V1_5_SHA_256"  # JWS RS256


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class KmsPublicKeys:
    """The issuer's public key, read once per process from KMS (GetPublicKey), by kid.

    The kid is a digest of the public key itself, so a rotated key (a new KMS key) gets a new kid.
    """

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._loaded: tuple[str, Any, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[str, Any, dict[str, Any]]:
        with self._lock:
            if self._loaded is None:
                # cryptography and PyJWT load with the key, once per process, not with the app
                from cryptography.hazmat.primitives.serialization import load_der_public_key
                from jwt.algorithms import RSAAlgorithm

                if not self._key_id:
                    raise ServiceUnavailable("The session signing key is not configured.")
                try:
                    der = self._kms.get_public_key(KeyId=self._key_id)["PublicKey"]
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                    raise ServiceUnavailable("The key service is unavailable; retry later.") from exc
                kid = _b64url(hashlib.sha256(der).digest()[:16])
                public_key = load_der_public_key(der)
                jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public_key))  # type: ignore[arg-type]
                jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
                self._loaded = (kid, public_key, jwk)
            return self._loaded

    @property
    def kid(self) -> str:
        return self._load()[0]

    def get(self, kid: str) -> Any:
        current, public_key, _ = self._load()
        if kid != current:
            raise Unauthenticated("The token is signed with an unknown key.")
        return public_key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._load()[2]]}


class KmsSessionTokenIssuer:
    """SessionTokenIssuer: a JWT whose RS256 signature KMS makes (the private key never leaves KMS)."""

    def __init__(
        self,
        kms_client: KMSClient,
        keys: KmsPublicKeys,
        key_id: str,
        issuer: str,
        lifetime_seconds: int,
        clock: Clock,
    ) -> None:
        self._kms = kms_client
        self._keys = keys
        self._key_id = key_id
        self._issuer = issuer
        self._lifetime = lifetime_seconds
        self._clock = clock

    def issue(self, username: str, finess: str) -> tuple[str, int]:
        now = int(self._clock.now().timestamp())
        header = {"alg": "RS256", "typ": "JWT", "kid": self._keys.kid}
        claims = {
            "iss": self._issuer,
            "sub": username,
            "username": username,
            # the pharmacy PSC vouched for: the token is valid there only (services/auth.py)
            SESSION_FINESS_CLAIM: finess,
            "client_id": PSC_SESSION_CLIENT_ID,
            "token_use": "access",
            "acr": REQUIRED_ACR,
            "amr": ["psc"],
            "auth_time": now,
            "iat": now,
            "exp": now + self._lifetime,
            "jti": str(uuid.uuid4()),
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        try:
            signature = self._kms.sign(
                KeyId=self._key_id,
                # RAW: KMS hashes the signing input itself (at most 4 KB; ours is a few hundred bytes).
                Message=signing_input.encode("ascii"),
                MessageType="RAW",
                SigningAlgorithm=SIGNING_ALGORITHM,
            )["Signature"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The key service is unavailable; retry later.") from exc
        return f"{signing_input}.{_b64url(signature)}", self._lifetime
