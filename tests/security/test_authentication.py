"""What an attacker would try on every protected route: 401 (403 for a revoked member), never 500."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import jwt
import pytest

from testkit.tokens import claims, foreign_key, moto_public_jwk, sign
from tests.conftest import PHARMACY_A, World

RECORD = str(uuid.uuid4())
PROTECTED = [
    ("POST", "/v1/tests"),
    ("GET", f"/v1/tests/{RECORD}"),
    ("GET", "/v1/tests"),
    ("PUT", f"/v1/tests/{RECORD}/result"),
    ("DELETE", f"/v1/tests/{RECORD}"),
    ("GET", f"/v1/tests/{RECORD}/delivery"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/admin/pharmacies"),
    ("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members"),
    ("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/pharmacist-a"),
]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _alg_none(w: World) -> str:
    return f"{_b64({'alg': 'none', 'kid': 'dummy'})}.{_b64(claims(w.pool_id, w.client_id, 'pharmacist-a'))}."


def _hs256_with_public_key(w: World) -> str:
    public_key: Any = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(moto_public_jwk()))  # a public JWK
    public_pem = public_key.public_bytes(
        encoding=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
        ).Encoding.PEM,
        format=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["x"]
        ).PublicFormat.SubjectPublicKeyInfo,
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "dummy"})
    payload = _b64(claims(w.pool_id, w.client_id, "pharmacist-a"))
    import hashlib
    import hmac

    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def _forged(w: World, **overrides: object) -> str:
    """A token signed with the pool's own key, with some claims changed or removed (None)."""
    body = claims(w.pool_id, w.client_id, "pharmacist-a")
    body.update(overrides)
    return f"Bearer {sign({k: v for k, v in body.items() if v is not None})}"


ATTACKS: dict[str, Callable[[World], str | None]] = {
    "no token": lambda w: None,
    "garbage": lambda w: "Bearer garbage",
    "no dots": lambda w: "Bearer eyJhbGciOiJSUzI1NiJ9",
    "wrong scheme": lambda w: f"Basic {w.token('pharmacist-a')}",
    "alg none": lambda w: f"Bearer {_alg_none(w)}",
    "HS256 signed with the public key": lambda w: f"Bearer {_hs256_with_public_key(w)}",
    "another key": lambda w: f"Bearer {sign(claims(w.pool_id, w.client_id, 'pharmacist-a'), foreign_key())}",
    "unknown kid": lambda w: f"Bearer {sign(claims(w.pool_id, w.client_id, 'pharmacist-a'), kid='rotated')}",
    "expired": lambda w: (
        f"Bearer {w.token('pharmacist-a', exp=int(time.time()) - 120, iat=int(time.time()) - 1000)}"
    ),
    # An issuer's longer lifetime (moto's 3600 s) does not lengthen ours: 15 minutes from iat.
    "older than 15 minutes, exp an hour after iat": lambda w: (
        f"Bearer {w.token('pharmacist-a', iat=int(time.time()) - 901, exp=int(time.time()) + 2699)}"
    ),
    "no iat": lambda w: _forged(w, iat=None),
    "not yet valid": lambda w: f"Bearer {w.token('pharmacist-a', nbf=int(time.time()) + 600)}",
    "issued in the future": lambda w: f"Bearer {w.token('pharmacist-a', iat=int(time.time()) + 600)}",
    "wrong issuer": lambda w: (
        f"Bearer {w.token('pharmacist-a', iss='https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_other')}"
    ),
    "another region's pool": lambda w: f"Bearer {w.token('pharmacist-a', region='us-east-1')}",
    "ID token": lambda w: _forged(w, token_use="id", client_id=None, aud=w.client_id),
    "another app client": lambda w: _forged(w, client_id="another-client"),
    "no username": lambda w: _forged(w, username=None),
    "no expiry": lambda w: f"Bearer {w.token('pharmacist-a', exp=None)}",
    # Validly signed, a claim of the wrong type: the first release answered 500 to the first.
    "client_id a list": lambda w: _forged(w, client_id=[w.client_id]),
    "iat a string": lambda w: _forged(w, iat=str(int(time.time()))),
    "username a number": lambda w: _forged(w, username=42),
    "auth_time a dict": lambda w: _forged(w, auth_time={"at": int(time.time())}),
    "expiry null": lambda w: f"Bearer {sign({**claims(w.pool_id, w.client_id, 'alice'), 'exp': None})}",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_protected_route_refuses(world: World, attack: str) -> None:
    authorization = ATTACKS[attack](world)
    for method, path in PROTECTED:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        response = getattr(world.client.http, method.lower())(path, headers=headers, body="{}")
        assert response.status_code == 401, (attack, method, path, response.status_code)
        body = json.loads(response.body)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert body["status"] == 401
        if authorization and " " in authorization:
            assert authorization.split(" ", 1)[1] not in response.body.decode()


def test_health_needs_no_token(world: World) -> None:
    assert world.client.http.get("/v1/health").status_code == 200


def test_a_valid_token_of_a_non_member_is_403(world: World) -> None:
    response = world.call("GET", "/v1/tests", None, Authorization=f"Bearer {world.token('stranger')}")
    assert response.status_code == 403


def test_a_revoked_member_is_refused_on_the_next_request(world: World) -> None:
    token = world.token("pharmacist-a")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert world.client.http.get("/v1/tests", headers=headers).status_code == 200
    revoked = world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/pharmacist-a", "admin-a")
    assert revoked.status_code == 204
    assert world.client.http.get("/v1/tests", headers=headers).status_code == 403


def test_refusals_are_audited_without_the_token(world: World) -> None:
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    token = sign(claims(world.pool_id, world.client_id, "pharmacist-a"), foreign_key())
    world.call("GET", "/v1/tests", None, Authorization=f"Bearer {token}")
    events = [e.event for e in AuditEventModel.query("platform")]
    refusals = [e for e in events if e.get("action") == "authenticate" and e.get("outcome") == "denied"]
    assert refusals, "the refused authentication is not in the journal"
    assert token not in json.dumps(events)
    assert token.split(".")[2] not in json.dumps(events)


def _platform_links() -> int:
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    return sum(1 for _ in AuditEventModel.query("platform"))


def test_a_flood_of_garbage_tokens_grows_the_journal_by_windows_and_never_answers_503(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first release appended one year-long link per refused request to the platform chain
    (and answered some 503 under an 8-thread flood)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    capsys.readouterr()
    before = _platform_links()
    flood = 120
    for _ in range(flood):
        response = world.call("GET", "/v1/tests", None, Authorization="Bearer garbage")
        assert response.status_code == 401
    # one window (two if the flood straddles a boundary, plus that window's closing count)
    assert _platform_links() - before <= 3
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(m.get("UnauthenticatedRefusals", [0])[0] for m in emitted) == flood

    from chalicelib.bootstrap import get_container
    from chalicelib.domain.errors import ServiceUnavailable

    journal = get_container().journal
    with mock.patch.object(type(journal), "append", side_effect=ServiceUnavailable("down")):
        for attack in ("garbage", "no token", "unknown kid"):
            authorization = ATTACKS[attack](world)
            headers = {"Authorization": authorization} if authorization else {}
            assert world.client.http.get("/v1/tests", headers=headers).status_code == 401
