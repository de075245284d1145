"""Onboarding a pharmacy and managing its members."""

from __future__ import annotations

import json

import boto3

from tests.conftest import PHARMACY_A, World

NEW_FINESS = "690000013"  # 69000001 + Luhn digit


def test_platform_admin_onboards_a_pharmacy_and_invites_its_admin(world: World) -> None:
    created = world.call(
        "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "Pharmacie du Rhône"}
    )
    assert created.status_code == 201, created.body
    again = world.call(
        "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "Pharmacie du Rhône"}
    )
    assert again.status_code == 409
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{NEW_FINESS}/members",
        "operator",
        {"email": "titulaire@example.org", "role": "pharmacy_admin"},
    )
    assert invited.status_code == 201, invited.body
    member = json.loads(invited.body)
    assert member["email"] == "titulaire@example.org" and member["role"] == "pharmacy_admin"
    assert member["finess"] == NEW_FINESS and "password" not in json.dumps(member).lower()
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=world.pool_id, Username=member["username"])
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # invited: a temporary password only


def test_invalid_finess_is_400_naming_the_field(world: World) -> None:
    response = world.call("POST", "/v1/admin/pharmacies", "operator", {"finess": "690000014", "name": "X"})
    assert response.status_code == 400
    assert [e["field"] for e in json.loads(response.body)["errors"]] == ["finess"]
    assert "690000014" not in response.body.decode()


def test_pharmacy_admin_invites_and_revokes_in_its_own_pharmacy(world: World) -> None:
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"email": "adjoint@example.org", "role": "pharmacist"},
    )
    assert invited.status_code == 201
    username = json.loads(invited.body)["username"]
    assert (
        world.call("GET", "/v1/tests", None, Authorization=f"Bearer {world.token(username)}").status_code
        == 200
    )
    assert (
        world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{username}", "admin-a").status_code
        == 204
    )
    assert (
        world.call("GET", "/v1/tests", None, Authorization=f"Bearer {world.token(username)}").status_code
        == 403
    )
    assert (
        world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{username}", "admin-a").status_code
        == 404
    )


def test_platform_admin_cannot_be_invited_through_a_pharmacy(world: World) -> None:
    response = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "operator",
        {"email": "x@example.org", "role": "platform_admin"},
    )
    assert response.status_code == 400
