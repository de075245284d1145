"""The access-token verifier and its JWKS cache, without AWS."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.cognito import CognitoAccessTokenVerifier, JwksKeys
from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated
from testkit.tokens import access_token, claims, moto_public_jwk, sign

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
    token = verifier(Jwks()).verify(access_token(POOL, "client-1", "alice"))
    assert (token.username, token.client_id) == ("alice", "client-1")


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
    assert v.verify(sign(claims(POOL, "client-1", "alice"), kid="rotated")).username == "alice"


def test_jwks_down_at_cold_start_is_a_503_not_a_401() -> None:
    jwks = Jwks()
    jwks.down = True
    with pytest.raises(ServiceUnavailable):
        verifier(jwks).verify(access_token(POOL, "client-1", "alice"))


def test_leeway_accepts_a_token_just_expired() -> None:
    import time

    token = access_token(POOL, "client-1", "alice", exp=int(time.time()) - 10)
    assert verifier(Jwks()).verify(token).username == "alice"


class BlockingJwks(Jwks):
    """A JWKS endpoint whose answer (or failure) waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.block = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, url: str) -> dict[str, object]:
        if self.block:
            self.entered.set()
            assert self.release.wait(10)
        return super().__call__(url)


def _forged(i: int) -> str:
    return sign(claims(POOL, "client-1", "mallory"), kid=f"made-up-{i}")


def test_a_valid_token_is_not_delayed_by_forged_kids_while_the_endpoint_fails() -> None:
    """The first release: 10 made-up kids made 10 fetches under one lock, and a valid token waited."""
    jwks, clock = BlockingJwks(), Clock()
    v = verifier(jwks, clock)
    v.verify(access_token(POOL, "client-1", "alice"))  # keys cached
    jwks.down, jwks.block = True, True
    clock.t += 31
    outcomes: list[str] = []

    def forged_first() -> None:
        try:
            v.verify(_forged(0))
        except Unauthenticated:
            outcomes.append("401")

    first = threading.Thread(target=forged_first)
    first.start()
    assert jwks.entered.wait(10)  # that forged token's fetch is in flight, hanging
    for i in range(1, 11):  # more forged kids: refused at once, no second fetch
        with pytest.raises(Unauthenticated):
            v.verify(_forged(i))
    # a valid token is served from the cache while the fetch still hangs
    assert v.verify(access_token(POOL, "client-1", "alice")).username == "alice"
    assert not jwks.release.is_set() and first.is_alive()
    jwks.release.set()
    first.join(10)
    assert outcomes == ["401"] and jwks.calls == 2
    for i in range(10):  # the failed attempt counts: nothing more within 30 s
        with pytest.raises(Unauthenticated):
            v.verify(_forged(i))
    assert jwks.calls == 2


def test_a_failing_endpoint_is_tried_once_per_interval_with_backoff() -> None:
    jwks, clock = Jwks(), Clock()
    v = verifier(jwks, clock)
    v.verify(access_token(POOL, "client-1", "alice"))
    jwks.down = True
    attempts = []
    for _ in range(12):  # ten minutes of forged kids, ten a second's worth each time
        clock.t += 50
        for i in range(10):
            with pytest.raises(Unauthenticated):
                v.verify(_forged(i))
        attempts.append(jwks.calls - 1)
        assert v.verify(access_token(POOL, "client-1", "alice")).username == "alice"
    # 120 requests in 10 minutes, 5 attempts: at t=50, then waits of 30, 60, 120, 240 s (rounded
    # up to the next 50 s step: 100, 200, 350, 600)
    assert attempts == [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5]
    jwks.down = False
    clock.t += 600
    with pytest.raises(Unauthenticated):
        v.verify(_forged(0))
    assert jwks.calls - 1 == 6  # it recovers, and a success resets the backoff to 30 s
    clock.t += 31
    with pytest.raises(Unauthenticated):
        v.verify(_forged(1))
    assert jwks.calls - 1 == 7


def test_at_a_cold_start_a_failing_endpoint_is_a_503_tried_once_per_interval() -> None:
    jwks, clock = Jwks(), Clock()
    jwks.down = True
    v = verifier(jwks, clock)
    for _ in range(5):
        with pytest.raises(ServiceUnavailable):
            v.verify(access_token(POOL, "client-1", "alice"))
    assert jwks.calls == 1
    clock.t += 31
    jwks.down = False
    assert v.verify(access_token(POOL, "client-1", "alice")).username == "alice"
    assert jwks.calls == 2


def test_at_a_cold_start_concurrent_requests_share_one_fetch() -> None:
    jwks = BlockingJwks()
    jwks.block = True
    v = verifier(jwks)
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(v.verify(access_token(POOL, "client-1", "alice")).username)
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    assert jwks.entered.wait(10)
    jwks.release.set()
    for t in threads:
        t.join(10)
    assert results == ["alice"] * 4
    assert jwks.calls == 1


def test_old_keys_are_refreshed_in_the_background_not_on_a_valid_tokens_path() -> None:
    jwks, clock = Jwks(), Clock()
    spawned: list[Callable[[], None]] = []
    keys = JwksKeys("https://jwks", fetch=jwks, monotonic=clock, spawn=spawned.append)
    v = CognitoAccessTokenVerifier(keys, ISSUER, ("client-1",), leeway_seconds=30)
    v.verify(access_token(POOL, "client-1", "alice"))
    clock.t += 3601
    jwks.down = True
    for _ in range(3):
        assert v.verify(access_token(POOL, "client-1", "alice")).username == "alice"
    assert jwks.calls == 1 and len(spawned) == 1  # scheduled once, not run on the request
    spawned[0]()  # it fails: the old keys keep serving
    assert jwks.calls == 2
    assert v.verify(access_token(POOL, "client-1", "alice")).username == "alice"


# Any JSON value: what a signed token's claim may hold, whatever its type.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
CLAIM_NAMES = (
    "iss",
    "sub",
    "client_id",
    "token_use",
    "scope",
    "auth_time",
    "iat",
    "exp",
    "nbf",
    "jti",
    "username",
    "cognito:groups",
    "aud",
    "origin_jti",
    "event_id",
    "version",
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed=st.dictionaries(st.sampled_from(CLAIM_NAMES), JSON_VALUES, min_size=1, max_size=4))
def test_a_signed_token_with_claims_of_any_type_is_accepted_or_refused_never_an_error(
    malformed: dict[str, object],
) -> None:
    """The first release answered 500 to a validly signed token whose `client_id` was a list."""
    body = {**claims(POOL, "client-1", "alice"), **malformed}
    token = sign(body)
    try:
        verified = SHARED_VERIFIER.verify(token)
    except Unauthenticated:
        return
    # accepted: then every claim the API reads had the type it expects
    assert verified.client_id == body["client_id"] == "client-1"
    assert isinstance(verified.username, str) and verified.username == body["username"]
    assert type(verified.issued_at) is int and type(body["iat"]) is int


SHARED_VERIFIER = verifier(Jwks())


@pytest.mark.parametrize(
    "claim, value",
    [
        ("client_id", ["client-1"]),
        ("client_id", {"id": "client-1"}),
        ("iat", "1700000000"),
        ("iat", True),
        ("iat", 1.7e9),
        ("auth_time", "yesterday"),
        ("username", 42),
        ("username", ["alice"]),
        ("username", "a" * 129),
        ("token_use", ["access"]),
        ("exp", None),
        ("exp", float("inf")),
    ],
)
def test_a_malformed_claim_is_refused(claim: str, value: object) -> None:
    body = claims(POOL, "client-1", "alice")
    body[claim] = value
    with pytest.raises(Unauthenticated):
        verifier(Jwks()).verify(sign(body))


def test_cognito_groups_are_never_read_so_a_malformed_one_changes_nothing() -> None:
    """The membership decides the role, never the token's groups."""
    body = {**claims(POOL, "client-1", "alice"), "cognito:groups": {"platform_admin": True}}
    assert verifier(Jwks()).verify(sign(body)).username == "alice"
