"""The team routes as an attacker tries them: another pharmacy's admin, a pharmacist, the platform
admin (who reads no member's e-mail) and a pharmacy admin listing the platform's pharmacies. Each
is refused, the refusal journaled, nothing of the team leaves, and no invitation is re-sent."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.models import AuditEventModel
from tests.conftest import PHARMACY_A, World

MEMBERS = f"/v1/admin/pharmacies/{PHARMACY_A}/members"
INVITEE_EMAIL = "adjoint@example.org"


def _denials() -> list[tuple[Any, Any]]:
    return [
        (e.event["action"], e.event.get("reason"))
        for e in AuditEventModel.scan()
        if e.event["outcome"] == "denied"
    ]


def _routes(username: str) -> list[tuple[str, str]]:
    return [
        ("GET", MEMBERS),
        ("GET", f"{MEMBERS}/{username}"),
        ("POST", f"{MEMBERS}/{username}/invitation"),
        ("GET", f"/v1/admin/pharmacies/{PHARMACY_A}/settings"),
    ]


@pytest.mark.parametrize(
    ("caller", "refused_with"),
    [("admin-b", {404}), ("pharmacist-a", {403}), ("operator", {403})],
    ids=["another pharmacy's admin", "a pharmacist", "the platform admin"],
)
def test_no_one_but_the_pharmacys_admin_reads_its_team_and_each_refusal_is_journaled(
    world: World, caller: str, refused_with: set[int]
) -> None:
    invited = world.call("POST", MEMBERS, "admin-a", {"email": INVITEE_EMAIL, "role": "pharmacist"})
    username = json.loads(invited.body)["username"]
    routes = _routes(username)
    if caller == "operator":  # the platform reads a pharmacy's settings (it may require PSC there)
        routes = routes[:-1]
    before = len(_denials())
    for method, path in routes:
        response = world.call(method, path, caller)
        assert response.status_code in refused_with, (method, path, response.body)
        assert INVITEE_EMAIL not in response.body.decode() and username not in response.body.decode()
    assert len(_denials()) - before >= len(routes)  # each refusal journaled (the platform's twice)
    pool = boto3.client("cognito-idp")
    assert pool.admin_get_user(UserPoolId=world.pool_id, Username=username)["UserStatus"] == (
        "FORCE_CHANGE_PASSWORD"
    )


def test_the_platform_reads_a_pharmacys_settings_but_no_pharmacy_lists_the_platforms_pharmacies(
    world: World,
) -> None:
    assert world.call("GET", f"/v1/admin/pharmacies/{PHARMACY_A}/settings", "operator").status_code == 200
    for caller in ("admin-a", "pharmacist-a"):
        response = world.call("GET", "/v1/admin/pharmacies", caller)
        assert response.status_code == 403
        assert "pharmacies" not in json.loads(response.body)
    assert _denials()[-2:] == [("list_pharmacies", "role"), ("list_pharmacies", "role")]


def test_a_member_of_another_pharmacy_is_not_found_from_this_one(world: World) -> None:
    for method, path in (
        ("GET", f"{MEMBERS}/pharmacist-b"),
        ("POST", f"{MEMBERS}/pharmacist-b/invitation"),
        ("GET", f"/v1/admin/pharmacies/{PHARMACY_A}/members/admin-b"),
    ):
        response = world.call(method, path, "admin-a")
        assert response.status_code == 404, response.body
        assert "pharmacist-b" not in response.body.decode() and "admin-b" not in response.body.decode()
