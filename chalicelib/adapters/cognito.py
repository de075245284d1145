"""Cognito: verifying access tokens against the pool's JWKS, and the admin side (invite, sign out).

PyJWT (which loads cryptography) and requests are imported on first use, not with the app:
functions that verify no token (schedules, the stream handler) never load them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import botocore.exceptions

from chalicelib.domain.errors import Conflict, ConflictReason, ServiceUnavailable, Unauthenticated
from chalicelib.domain.model import USERNAME_MAX_LENGTH
from chalicelib.domain.psc import SESSION_FINESS_CLAIM
from chalicelib.ports import CognitoInvitation, VerifiedToken

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

FetchJwks = Callable[[str], dict[str, Any]]


FETCH_TIMEOUT_SECONDS = 3


def fetch_jwks(url: str) -> dict[str, Any]:
    import requests

    response = requests.get(url, timeout=FETCH_TIMEOUT_SECONDS)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


@dataclass(frozen=True)
class JwksRefresh:
    """How often JwksKeys fetches: keys older than `max_age_seconds` are refreshed; at most one
    attempt per `min_refresh_seconds`, the wait doubling after each failure up to `max_backoff_seconds`."""

    max_age_seconds: float = 3600.0
    min_refresh_seconds: float = 30.0
    max_backoff_seconds: float = 600.0


class JwksKeys:
    """The pool's signing keys by kid, fetched so that no token can make a valid one wait.

    - A token whose kid is cached never waits for a fetch: its lookup takes a lock only to read.
      Keys older than `max_age_seconds` are refreshed in the background (`spawn`), still served
      meanwhile.
    - One fetch at a time (single flight), and at most one attempt per `min_refresh_seconds`,
      failed or not, with the wait doubling after each failure up to `max_backoff_seconds`: a
      flood of made-up kids, or a failing endpoint, costs one fetch per interval, not one per
      request. An unknown kid that finds no attempt due is refused at once (401).
    - Only at a cold start, with no key at all, does a request wait: for the one fetch in flight,
      or the one it makes; if the endpoint fails it is a 503 (not the caller's fault).
    """

    def __init__(
        self,
        url: str,
        fetch: FetchJwks = fetch_jwks,
        refresh: JwksRefresh | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._url = url
        self._fetch = fetch
        refresh = refresh or JwksRefresh()
        self._max_age = refresh.max_age_seconds
        self._min_refresh = refresh.min_refresh_seconds
        self._max_backoff = refresh.max_backoff_seconds
        self._monotonic = monotonic
        self._spawn = spawn or _in_background
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None  # last success
        self._next_attempt_at = float("-inf")
        self._failures = 0
        self._in_flight: threading.Event | None = None
        self._lock = threading.Lock()  # guards the fields above; never held during a fetch

    def _claim_attempt(self, now: float) -> threading.Event | None:
        """Under the lock: the right to fetch now (an Event to set when done), or None."""
        if self._in_flight is not None or now < self._next_attempt_at:
            return None
        self._in_flight = threading.Event()
        backoff = self._min_refresh * 2 ** min(self._failures, 16)
        self._next_attempt_at = now + min(backoff, max(self._max_backoff, self._min_refresh))
        return self._in_flight

    def _refresh(self, done: threading.Event) -> None:
        """The one fetch in flight; records its outcome, never raises."""
        keys: dict[str, Any] | None = None
        try:
            from jwt.algorithms import RSAAlgorithm

            jwks = self._fetch(self._url)
            keys = {
                jwk["kid"]: RSAAlgorithm.from_jwk(jwk)
                for jwk in jwks.get("keys", [])
                if isinstance(jwk, dict) and jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str)
            }
        except Exception:  # any failure (network, HTTP, a malformed set) is a failed attempt
            keys = None
        with self._lock:
            now = self._monotonic()
            if keys:
                self._keys, self._fetched_at, self._failures = keys, now, 0
                self._next_attempt_at = now + self._min_refresh
            else:
                self._failures += 1  # keep serving the keys we have
            self._in_flight = None
        done.set()

    def get(self, kid: str) -> Any:
        with self._lock:
            now = self._monotonic()
            key = self._keys.get(kid)
            cold = not self._keys
            if key is not None:
                stale = self._fetched_at is None or now - self._fetched_at > self._max_age
                claim = self._claim_attempt(now) if stale else None
                waiting = None
            else:
                claim = self._claim_attempt(now)
                waiting = self._in_flight if cold and claim is None else None
        if key is not None:
            if claim is not None:
                self._spawn(lambda: self._refresh(claim))
            return key
        if claim is not None:
            self._refresh(claim)  # an unknown kid (a rotation, or a forgery) pays for its own fetch
        elif waiting is not None:
            waiting.wait(FETCH_TIMEOUT_SECONDS + 1)
        with self._lock:
            key = self._keys.get(kid)
            cold = not self._keys
        if key is not None:
            return key
        if cold:
            raise ServiceUnavailable("The identity provider's keys are unavailable.")
        raise Unauthenticated("The token is signed with an unknown key.")


def _in_background(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="jwks-refresh", daemon=True).start()


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

    def verify(self, token: str) -> VerifiedToken:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, TypeError, ValueError, OverflowError) as exc:
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
        key = trusted.keys.get(kid)  # Unauthenticated for an unknown kid; 503 with no key at all
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=trusted.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "token_use", "client_id", "username"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except (jwt.PyJWTError, TypeError, ValueError, OverflowError) as exc:
            # a claim of a type the library did not expect is the token's fault, not ours
            raise Unauthenticated("The token is not valid.") from exc
        return _access_token(claims, trusted.client_ids)


def _epoch_seconds(value: Any) -> int | None:
    """A NumericDate as Cognito writes it (a whole number of seconds), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _access_token(claims: dict[str, Any], client_ids: frozenset[str]) -> VerifiedToken:
    """What the API reads of a verified token, each claim checked for its type: a signed token
    with a malformed claim (a list for `client_id`, a string for `iat`) is refused, never a 500."""
    if claims.get("token_use") != "access":
        raise Unauthenticated("An access token is required.")
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or client_id not in client_ids:
        raise Unauthenticated("The token was issued to another application.")
    username = claims.get("username")
    if not isinstance(username, str) or not username or len(username) > USERNAME_MAX_LENGTH:
        raise Unauthenticated("The token names no user.")
    minted_at = issued_at = _epoch_seconds(claims.get("iat"))
    if issued_at is None:
        raise Unauthenticated("The token is not valid.")
    if "auth_time" in claims:
        auth_time = _epoch_seconds(claims["auth_time"])
        if auth_time is None:
            raise Unauthenticated("The token is not valid.")
        # A token refreshed after a logout still belongs to the session the logout ended.
        issued_at = min(issued_at, auth_time)
    finess = claims.get(SESSION_FINESS_CLAIM)  # our PSC session tokens' pharmacy
    if finess is not None and not isinstance(finess, str):
        raise Unauthenticated("The token is not valid.")
    return VerifiedToken(
        username=username, client_id=client_id, issued_at=issued_at, finess=finess, minted_at=minted_at
    )


class CognitoUserDirectory:
    """UserDirectory: invitations (Cognito e-mails an expiring temporary password) and sign-out."""

    def __init__(self, cognito_client: CognitoIdentityProviderClient, user_pool_id: str) -> None:
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

    def invitation(self, username: str) -> CognitoInvitation | None:
        """One AdminGetUser: the e-mail the admin entered, and FORCE_CHANGE_PASSWORD (the user has
        not yet set a password with the temporary one) as a pending invitation."""
        try:
            user = self._cognito.admin_get_user(UserPoolId=self._pool, Username=username)
        except self._cognito.exceptions.UserNotFoundException:
            return None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The identity provider is unavailable.") from exc
        email = next((a.get("Value") for a in user.get("UserAttributes", []) if a["Name"] == "email"), None)
        return CognitoInvitation(email=email, pending=user.get("UserStatus") == "FORCE_CHANGE_PASSWORD")

    def resend_invitation(self, username: str) -> None:
        """AdminCreateUser with MessageAction RESEND: a new temporary password, e-mailed; Cognito
        refuses it once the user has set their own (a Conflict)."""
        try:
            self._cognito.admin_create_user(
                UserPoolId=self._pool,
                Username=username,
                MessageAction="RESEND",
                DesiredDeliveryMediums=["EMAIL"],
            )
        except (
            self._cognito.exceptions.UnsupportedUserStateException,
            self._cognito.exceptions.UserNotFoundException,
        ) as exc:
            raise Conflict(
                "This member has no pending invitation.", reason=ConflictReason.NO_PENDING_INVITATION
            ) from exc
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The identity provider is unavailable.") from exc

    def username_of(self, sub: str) -> str | None:
        """UserLookup: the username whose `sub` this is (one ListUsers call), None if no such user."""
        if '"' in sub or "\\" in sub:  # it goes into a filter expression
            return None
        try:
            users = self._cognito.list_users(UserPoolId=self._pool, Filter=f'sub = "{sub}"', Limit=1)["Users"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceUnavailable("The identity provider is unavailable.") from exc
        username = users[0].get("Username") if users else None
        return username if isinstance(username, str) else None
