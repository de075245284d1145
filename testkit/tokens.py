"""Access tokens for tests: signed with the key moto's Cognito signs with (so they verify against
the pool's JWKS as real ones do), or with anything an attacker might try."""

from __future__ import annotations

import functools
import gzip
import json
import time
from importlib import resources
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@functools.cache
def moto_signing_key() -> Any:
    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    return RSAAlgorithm.from_jwk(json.dumps(json.loads(gzip.decompress(raw))))


def moto_public_jwk() -> dict[str, Any]:
    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-public.json.gz").read_bytes()
    jwk: dict[str, Any] = json.loads(gzip.decompress(raw))["keys"][0]
    return jwk


def foreign_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(
    pool_id: str, client_id: str, username: str, *, region: str = "eu-west-3", **overrides: Any
) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        "sub": f"sub-{username}",
        "client_id": client_id,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 900,
        "jti": f"jti-{username}-{now}",
        "username": username,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def sign(body: dict[str, Any], key: Any = None, *, kid: str = "dummy", algorithm: str = "RS256") -> str:
    """Signs the claims as given, through PyJWS: jwt.encode refuses some malformed claims (a
    non-string `iss`) that the verifier must still refuse without failing."""
    return jwt.api_jws.encode(
        json.dumps(body, separators=(",", ":")).encode(),
        key if key is not None else moto_signing_key(),
        algorithm=algorithm,
        headers={"kid": kid, "typ": "JWT"},
    )


def access_token(pool_id: str, client_id: str, username: str, **overrides: Any) -> str:
    return sign(claims(pool_id, client_id, username, **overrides))
