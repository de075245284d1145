"""The admin routes under any path parameter and any JSON body: a clear 4xx, never a 500, and never the
value sent echoed back."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PHARMACY_A, World

CALLERS = ("admin-a", "operator", "pharmacist-a")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["email", "national_id", "rpps", "role", "psc_required", "finess", "name"])
BODY = st.dictionaries(FIELDS, JSON, max_size=4) | JSON
SEGMENT = st.text(min_size=1, max_size=3000).filter(lambda t: t.strip("/.") != "")
SWEEP = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _no_echo(response: Any, *sent: str) -> None:
    assert response.status_code < 500, response.body
    text = response.body.decode()
    for value in sent:
        if len(value) >= 8 and value.strip():
            assert value not in text and json.dumps(value)[1:-1] not in text


def test_revoking_any_username_is_never_a_500_nor_an_echo(world: World) -> None:
    @SWEEP
    @given(username=SEGMENT, caller=st.sampled_from(CALLERS))
    def revoke(username: str, caller: str) -> None:
        path = f"/v1/admin/pharmacies/{PHARMACY_A}/members/{quote(username, safe='')}"
        _no_echo(world.call("DELETE", path, caller), username)

    revoke()


def test_reading_a_member_or_re_sending_to_any_username_is_never_a_500_nor_an_echo(world: World) -> None:
    @SWEEP
    @given(username=SEGMENT, caller=st.sampled_from(CALLERS), resend=st.booleans())
    def read(username: str, caller: str, resend: bool) -> None:
        path = f"/v1/admin/pharmacies/{PHARMACY_A}/members/{quote(username, safe='')}"
        if resend:
            _no_echo(world.call("POST", f"{path}/invitation", caller), username)
        else:
            _no_echo(world.call("GET", path, caller), username)

    read()


def test_any_onboarding_invitation_or_settings_body_is_never_a_500_nor_an_echo(world: World) -> None:
    @SWEEP
    @given(
        body=BODY,
        caller=st.sampled_from(CALLERS),
        route=st.sampled_from(["members", "settings", "onboarding"]),
    )
    def send(body: Any, caller: str, route: str) -> None:
        if route == "onboarding":
            response = world.call("POST", "/v1/admin/pharmacies", caller, body)
        else:
            method = "POST" if route == "members" else "PUT"
            response = world.call(method, f"/v1/admin/pharmacies/{PHARMACY_A}/{route}", caller, body)
        strings = [v for v in (body.values() if isinstance(body, dict) else [body]) if isinstance(v, str)]
        _no_echo(response, *strings)

    send()


def test_any_pharmacy_in_the_path_is_never_a_500_nor_an_echo(world: World) -> None:
    @SWEEP
    @given(finess=SEGMENT, caller=st.sampled_from(CALLERS))
    def reach(finess: str, caller: str) -> None:
        path = f"/v1/admin/pharmacies/{quote(finess, safe='')}/settings"
        _no_echo(world.call("PUT", path, caller, {"psc_required": True}), finess)
        _no_echo(world.call("GET", path, caller), finess)
        members = f"/v1/admin/pharmacies/{quote(finess, safe='')}/members"
        _no_echo(world.call("GET", members, caller), finess)
        _no_echo(world.call("GET", f"{members}/admin-a", caller), finess)

    reach()


def test_a_username_longer_than_any_key_is_a_404_not_dynamodbs_validation_error(
    world: World, monkeypatch: Any
) -> None:
    """moto reads any key; DynamoDB refuses a partition key over 2048 bytes (ValidationException),
    which reached the caller as a 500 for DELETE …/members/<2,100 characters>."""
    import botocore.exceptions
    from pynamodb.exceptions import GetError

    from chalicelib.adapters.dynamodb.models import MemberModel

    original = MemberModel.get.__func__  # type: ignore[attr-defined]

    def as_dynamodb(cls: Any, hash_key: str, *args: Any, **kwargs: Any) -> Any:
        if len(hash_key.encode()) > 2048:
            error: Any = {"Error": {"Code": "ValidationException", "Message": "Size of hashkey has exceeded"}}
            raise GetError("Failed to get item", cause=botocore.exceptions.ClientError(error, "GetItem"))
        return original(cls, hash_key, *args, **kwargs)

    monkeypatch.setattr(MemberModel, "get", classmethod(as_dynamodb))
    for username in ("x" * 2100, "é" * 1100):
        response = world.call(
            "DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{quote(username, safe='')}", "admin-a"
        )
        assert response.status_code == 404, response.body
    assert world.call("GET", "/v1/audit", "admin-a").status_code == 200  # the real path still reads
