"""Pro Santé Connect over HTTPS: discovery, CIBA (poll mode), ID token and userinfo checks.

What we rely on (checked against PSC's public documentation; see docs/psc.md):
OIDC discovery per environment; the backchannel authentication endpoint and the token endpoint
take the client's credentials as HTTP Basic and form-encoded parameters; tokens are RS256 with
keys at the discovery's `jwks_uri`; `acr_values=eidas1`; userinfo carries `SubjectNameID` and
`SubjectRefPro`. Error texts from PSC or from the HTTP library are never passed on: each answer
is mapped to a fixed problem.

requests and PyJWT are imported on first use (the first PSC call), not with the app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from chalicelib.adapters.cognito import JwksKeys
from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated
from chalicelib.domain.psc import (
    REQUIRED_ACR,
    AccessDenied,
    AuthorizationPending,
    LoginExpired,
    PscRefused,
    SlowDown,
    UnknownIdentifier,
)
from chalicelib.observability import logger
from chalicelib.ports import CibaRequest

if TYPE_CHECKING:
    import requests
    from mypy_boto3_secretsmanager import SecretsManagerClient

CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
DEFAULT_INTERVAL_SECONDS = 5  # CIBA Core §7.3: the client's default when PSC names none
# CIBA/OAuth error codes at the token endpoint -> the problem the app gets.
_TOKEN_ERRORS: dict[str, type[Exception]] = {
    "authorization_pending": AuthorizationPending,
    "slow_down": SlowDown,
    "expired_token": LoginExpired,
    "invalid_grant": LoginExpired,  # an auth_req_id PSC no longer knows
    "access_denied": AccessDenied,
}
_UNAVAILABLE = "Pro Santé Connect is unavailable; retry later."


class SecretsManagerSecret:
    """A secret string from Secrets Manager, cached for `max_age_seconds` (rotation takes effect then)."""

    def __init__(
        self,
        client: SecretsManagerClient,
        secret_id: str,
        max_age_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._value: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._value is None or self._monotonic() - self._read_at > self._max_age:
                if not self._secret_id:
                    raise ServiceUnavailable("Pro Santé Connect is not configured.")
                try:
                    value = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                    raise ServiceUnavailable("The secret store is unavailable; retry later.") from exc
                self._value, self._read_at = str(value), self._monotonic()
            return self._value


@dataclass(frozen=True)
class PscSettings:
    discovery_url: str
    client_id: str
    scope: str
    acr: str = REQUIRED_ACR
    leeway_seconds: int = 30
    timeout_seconds: float = 5.0


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class PscClient:
    """PscProvider over HTTPS with `requests`."""

    def __init__(
        self,
        settings: PscSettings,
        client_secret: Callable[[], str],
        http: requests.Session | None = None,
        max_discovery_age_seconds: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._secret = client_secret
        self._http_session = http
        self._max_age = max_discovery_age_seconds
        self._monotonic = monotonic
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self._keys: JwksKeys | None = None
        self._lock = threading.Lock()

    @property
    def _http(self) -> requests.Session:
        if self._http_session is None:
            import requests

            self._http_session = requests.Session()
        return self._http_session

    # discovery ---------------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        import requests

        with self._lock:
            if self._discovery is None or self._monotonic() - self._discovered_at > self._max_age:
                if not self._settings.discovery_url:
                    raise ServiceUnavailable("Pro Santé Connect is not configured.")
                try:
                    response = self._http.get(
                        self._settings.discovery_url, timeout=self._settings.timeout_seconds
                    )
                    response.raise_for_status()
                except requests.RequestException as exc:
                    if self._discovery is None:
                        raise ServiceUnavailable(_UNAVAILABLE) from exc
                    return self._discovery  # keep the metadata we have
                metadata = _json(response)
                needed = ("issuer", "jwks_uri", "token_endpoint", "userinfo_endpoint")
                if any(not isinstance(metadata.get(name), str) for name in needed) or not isinstance(
                    metadata.get("backchannel_authentication_endpoint"), str
                ):
                    raise ServiceUnavailable(_UNAVAILABLE)
                if (
                    self._keys is None
                    or self._discovery is None
                    or metadata["jwks_uri"] != self._discovery["jwks_uri"]
                ):
                    self._keys = JwksKeys(metadata["jwks_uri"], fetch=self._fetch_jwks)
                self._discovery, self._discovered_at = metadata, self._monotonic()
            return self._discovery

    def _fetch_jwks(self, url: str) -> dict[str, Any]:
        response = self._http.get(url, timeout=self._settings.timeout_seconds)
        response.raise_for_status()
        return _json(response)

    def _post(self, url: str, data: dict[str, str]) -> requests.Response:
        import requests

        try:
            return self._http.post(
                url,
                data=data,
                auth=(self._settings.client_id, self._secret()),
                timeout=self._settings.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc

    # CIBA ---------------------------------------------------------------------------------
    def authorize(self, national_id: str, binding_message: str) -> CibaRequest:
        endpoint = self._metadata()["backchannel_authentication_endpoint"]
        response = self._post(
            endpoint,
            {
                "scope": self._settings.scope,
                "login_hint": national_id,
                "binding_message": binding_message,
                "acr_values": self._settings.acr,
            },
        )
        body = _json(response)
        if response.status_code == 200 and isinstance(body.get("auth_req_id"), str):
            interval = body.get("interval", DEFAULT_INTERVAL_SECONDS)
            expires_in = body.get("expires_in")
            if not isinstance(expires_in, int) or not isinstance(interval, int):
                raise ServiceUnavailable(_UNAVAILABLE)
            return CibaRequest(body["auth_req_id"], expires_in, max(1, interval))
        error = body.get("error")
        if error == "unknown_user_id":
            raise UnknownIdentifier("Pro Santé Connect knows no professional with this identifier.")
        # invalid_client, unauthorized_client, invalid_request...: our configuration, not the user's
        logger.warning(
            "psc backchannel request refused",
            extra={"status": response.status_code, "error": str(error)[:40]},
        )
        raise ServiceUnavailable(_UNAVAILABLE)

    def poll(self, auth_req_id: str) -> dict[str, Any]:
        response = self._post(
            self._metadata()["token_endpoint"], {"grant_type": CIBA_GRANT_TYPE, "auth_req_id": auth_req_id}
        )
        body = _json(response)
        if response.status_code == 200 and isinstance(body.get("id_token"), str):
            return body
        problem = _TOKEN_ERRORS.get(str(body.get("error")))
        if problem is AuthorizationPending:
            raise AuthorizationPending("Approve the request in your e-CPS app, then poll again.")
        if problem is SlowDown:
            raise SlowDown("Pro Santé Connect asks to poll less often.")
        if problem is LoginExpired:
            raise LoginExpired("The login request expired before it was approved; start a new one.")
        if problem is AccessDenied:
            raise AccessDenied("The login was declined in the e-CPS app.")
        logger.warning(
            "psc token request refused",
            extra={"status": response.status_code, "error": str(body.get("error"))[:40]},
        )
        raise ServiceUnavailable(_UNAVAILABLE)

    # ID token and userinfo ------------------------------------------------------------------
    def _verified_id_token(self, id_token: str) -> dict[str, Any]:
        import jwt

        metadata = self._metadata()
        assert self._keys is not None  # set with the metadata
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise PscRefused(
                "id token malformed", "Pro Santé Connect's answer could not be verified."
            ) from exc
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise PscRefused("id token algorithm", "Pro Santé Connect's answer could not be verified.")
        try:
            key = self._keys.get(header["kid"])
        except Unauthenticated as exc:
            raise PscRefused(
                "id token signature", "Pro Santé Connect's answer could not be verified."
            ) from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=["RS256"],
                audience=self._settings.client_id,
                issuer=metadata["issuer"],
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise PscRefused(
                "id token expired", "Pro Santé Connect's answer has expired; log in again."
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise PscRefused(
                "id token audience", "Pro Santé Connect's answer was meant for another service."
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise PscRefused("id token issuer", "Pro Santé Connect's answer could not be verified.") from exc
        except jwt.PyJWTError as exc:
            raise PscRefused(
                "id token signature", "Pro Santé Connect's answer could not be verified."
            ) from exc
        if claims.get("acr") != self._settings.acr:
            raise PscRefused(
                "id token acr", "The login did not reach the assurance level health data needs (eidas1)."
            )
        return claims

    def verified_userinfo(self, tokens: dict[str, Any]) -> dict[str, Any]:
        import requests

        claims = self._verified_id_token(str(tokens.get("id_token", "")))
        access_token = tokens.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise PscRefused("no access token", "Pro Santé Connect's answer could not be verified.")
        try:
            response = self._http.get(
                self._metadata()["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=self._settings.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if response.status_code != 200:
            raise ServiceUnavailable(_UNAVAILABLE)
        userinfo = _json(response)
        # OIDC Core §5.3.2: userinfo's sub must be the ID token's, else it is someone else's answer.
        if userinfo.get("sub") != claims["sub"]:
            raise PscRefused("userinfo subject", "Pro Santé Connect vouched for someone else.")
        return userinfo
