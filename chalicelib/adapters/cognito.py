"""Cognito: verifying access tokens against the pool's JWKS, and the admin side (invite, sign out)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import botocore.exceptions
import jwt
import requests
from jwt.algorithms import RSAAlgorithm

from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated

FetchJwks = Callable[[str], dict[str, Any]]


def fetch_jwks(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=3)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


class JwksKeys:
    """The pool's signing keys by kid: cached, refreshed at most every `min_refresh_seconds`.

    An unknown kid triggers one refresh (Cognito rotates keys), but a flood of tokens with
    made-up kids cannot make us hammer the JWKS endpoint.
    """

    def __init__(
        self,
        url: str,
        fetch: FetchJwks = fetch_jwks,
        max_age_seconds: float = 3600.0,
        min_refresh_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._monotonic = monotonic
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            jwks = self._fetch(self._url)
        except (requests.RequestException, ValueError) as exc:
            if self._keys:
                return  # keep serving the keys we have
            raise ServiceUnavailable("The identity provider's keys are unavailable.") from exc
        keys = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid"):
                keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
        self._keys = keys
        self._fetched_at = self._monotonic()

    def get(self, kid: str) -> Any:
        with self._lock:
            now = self._monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > self._max_age
            if stale or (kid not in self._keys and now - (self._fetched_at or 0.0) >= self._min_refresh):
                self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("The token is signed with an unknown key.")
        return key


class KeySource(Protocol):
    def get(self, kid: str) -> Any:
        """The public key named `kid`; Unauthenticated if there is none."""
        ...


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose access tokens the API accepts: its keys and the clients it issues to."""

    issuer: str
    keys: KeySource
    client_ids: frozenset[str]


class CognitoAccessTokenVerifier:
    """TokenVerifier: an access token of our Cognito pool and app clients, or of another trusted
    issuer of ours (the PSC session issuer, chalicelib/adapters/session_tokens.py). RS256 only.

    One verification path for every issuer: the unverified `iss` only picks which issuer's keys
    and clients to check against; the signature, issuer, expiry, `token_use` and `client_id` are
    then checked exactly as for Cognito.
    """

    def __init__(
        self,
        keys: KeySource,
        issuer: str,
        client_ids: tuple[str, ...],
        leeway_seconds: int,
        also_trusted: tuple[TrustedIssuer, ...] = (),
    ) -> None:
        cognito = TrustedIssuer(issuer, keys, frozenset(client_ids))
        self._issuers = {trusted.issuer: trusted for trusted in (cognito, *also_trusted)}
        self._leeway = leeway_seconds

    def verify(self, token: str) -> tuple[str, str]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The token is malformed.") from exc
        if header.get("alg") != "RS256":
            raise Unauthenticated("The token's algorithm is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("The token names no key.")
        iss = unverified.get("iss")
        trusted = self._issuers.get(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise Unauthenticated("The token is not valid.")
        try:
            claims = jwt.decode(
                token,
                trusted.keys.get(kid),
                algorithms=["RS256"],
                issuer=trusted.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "token_use", "client_id", "username"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The token is not valid.") from exc
        if claims.get("token_use") != "access":
            raise Unauthenticated("An access token is required.")
        if claims.get("client_id") not in trusted.client_ids:
            raise Unauthenticated("The token was issued to another application.")
        username = claims.get("username")
        if not isinstance(username, str) or not username:
            raise Unauthenticated("The token names no user.")
        return username, str(claims["client_id"])


class CognitoUserDirectory:
    """UserDirectory: invitations (Cognito e-mails an expiring temporary password) and sign-out."""

    def __init__(self, cognito_client: Any, user_pool_id: str) -> None:
        self._cognito = cognito_client
        self._pool = user_pool_id

    def invite(self, email: str) -> str:
        username = f"u-{uuid.uuid4().hex[:16]}"  # opaque: e-mail addresses stay out of logs and URLs
        try:
            self._cognito.admin_create_user(
                UserPoolId=self._pool,
                Username=username,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
                DesiredDeliveryMediums=["EMAIL"],
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The identity provider is unavailable.") from exc
        return username

    def sign_out_everywhere(self, username: str) -> None:
        try:
            self._cognito.admin_user_global_sign_out(UserPoolId=self._pool, Username=username)
        except self._cognito.exceptions.UserNotFoundException:
            return
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The identity provider is unavailable.") from exc
