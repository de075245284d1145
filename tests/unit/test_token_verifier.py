"""The access-token verifier and its JWKS cache, without AWS."""

from __future__ import annotations

import pytest

from chalicelib.adapters.cognito import CognitoAccessTokenVerifier, JwksKeys
from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated
from tests.tokens import access_token, claims, moto_public_jwk, sign

pytestmark = pytest.mark.unit

POOL = "eu-west-3_pool"
ISSUER = f"https://cognito-idp.eu-west-3.amazonaws.com/{POOL}"


class Jwks:
    def __init__(self) -> None:
        self.calls = 0
        self.keys = [moto_public_jwk()]
        self.down = False

    def __call__(self, url: str) -> dict[str, object]:
        self.calls += 1
        if self.down:
            import requests

            raise requests.ConnectionError("down")
        return {"keys": self.keys}


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def verifier(jwks: Jwks, clock: Clock | None = None) -> CognitoAccessTokenVerifier:
    keys = JwksKeys("https://jwks", fetch=jwks, monotonic=clock or Clock())
    return CognitoAccessTokenVerifier(keys, ISSUER, ("client-1",), leeway_seconds=30)


def test_a_valid_token_names_its_user_and_client() -> None:
    assert verifier(Jwks()).verify(access_token(POOL, "client-1", "alice")) == ("alice", "client-1")


def test_keys_are_cached_and_an_unknown_kid_refreshes_once_per_interval() -> None:
    jwks, clock = Jwks(), Clock()
    v = verifier(jwks, clock)
    for _ in range(5):
        v.verify(access_token(POOL, "client-1", "alice"))
    assert jwks.calls == 1
    unknown = sign(claims(POOL, "client-1", "alice"), kid="rotated")
    clock.t += 31
    with pytest.raises(Unauthenticated):
        v.verify(unknown)
    assert jwks.calls == 2
    for _ in range(10):  # a flood of unknown kids does not hammer the JWKS endpoint
        with pytest.raises(Unauthenticated):
            v.verify(unknown)
    assert jwks.calls == 2


def test_a_rotated_key_is_picked_up() -> None:
    jwks, clock = Jwks(), Clock()
    v = verifier(jwks, clock)
    v.verify(access_token(POOL, "client-1", "alice"))
    jwks.keys = [dict(moto_public_jwk(), kid="rotated")]
    clock.t += 31
    assert v.verify(sign(claims(POOL, "client-1", "alice"), kid="rotated")) == ("alice", "client-1")


def test_jwks_down_at_cold_start_is_a_503_not_a_401() -> None:
    jwks = Jwks()
    jwks.down = True
    with pytest.raises(ServiceUnavailable):
        verifier(jwks).verify(access_token(POOL, "client-1", "alice"))


def test_leeway_accepts_a_token_just_expired() -> None:
    import time

    token = access_token(POOL, "client-1", "alice", exp=int(time.time()) - 10)
    assert verifier(Jwks()).verify(token)[0] == "alice"
