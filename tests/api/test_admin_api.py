"""Onboarding a pharmacy and managing its members."""

from __future__ import annotations

import json

import boto3

from tests.conftest import PHARMACY_A, World
from tests.psc import PscWorld, identity

NEW_FINESS = "690000013"  # 69000001 + Luhn digit
TITULAIRE = "810000000401"  # the national directory lists them as a pharmacist at NEW_FINESS


def test_platform_admin_onboards_a_pharmacy_and_invites_its_admin(psc: PscWorld) -> None:
    world = psc.world
    psc.fake.identities.append(identity(TITULAIRE, finess=(NEW_FINESS,)))
    created = world.call(
        "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "Pharmacie du Rhône"}
    )
    assert created.status_code == 201, created.body
    again = world.call(
        "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "Pharmacie du Rhône"}
    )
    assert again.status_code == 409
    users = len(boto3.client("cognito-idp").list_users(UserPoolId=world.pool_id)["Users"])
    by_mail = world.call(
        "POST",
        f"/v1/admin/pharmacies/{NEW_FINESS}/members",
        "operator",
        {"email": "titulaire@example.org", "role": "pharmacy_admin"},
    )
    assert by_mail.status_code == 403  # the platform's first admin is a professional, not a mailbox
    assert len(boto3.client("cognito-idp").list_users(UserPoolId=world.pool_id)["Users"]) == users
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{NEW_FINESS}/members",
        "operator",
        {"rpps": TITULAIRE[1:], "role": "pharmacy_admin"},
    )
    assert invited.status_code == 201, invited.body
    assert json.loads(invited.body) == {
        "username": f"psc-{TITULAIRE}",
        "national_id": TITULAIRE,
        "role": "pharmacy_admin",
        "finess": NEW_FINESS,
    }


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
