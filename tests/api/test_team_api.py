"""The team routes against the app on moto: a pharmacy's admin lists its members, reads one, re-sends
a pending invitation (Cognito's AdminCreateUser RESEND) and reads its settings; the platform lists
its pharmacies. Each read leaves its event on the right chain."""

from __future__ import annotations

import json
from typing import Any

import boto3

from chalicelib.adapters.dynamodb.models import AuditEventModel
from tests.conftest import PHARMACY_A, PHARMACY_B, World

MEMBERS = f"/v1/admin/pharmacies/{PHARMACY_A}/members"


def _actions(chain: str) -> list[tuple[Any, Any]]:
    return [(e.event["action"], e.event["outcome"]) for e in AuditEventModel.query(chain)]


def _invite(world: World, email: str = "adjoint@example.org") -> str:
    invited = world.call("POST", MEMBERS, "admin-a", {"email": email, "role": "pharmacist"})
    assert invited.status_code == 201, invited.body
    username: str = json.loads(invited.body)["username"]
    return username


def test_an_admin_lists_their_team_with_each_members_login_invitation_and_inviter(world: World) -> None:
    username = _invite(world)
    response = world.call("GET", MEMBERS, "admin-a")
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["finess"] == PHARMACY_A
    by_name = {m["username"]: m for m in body["members"]}
    assert set(by_name) == {"admin-a", "pharmacist-a", username}
    invitee = by_name[username]
    assert invitee["login"] == "cognito" and invitee["invitation"] == "pending"
    assert invitee["email"] == "adjoint@example.org" and invitee["national_id"] is None
    assert invitee["invited_by"] == "admin-a" and invitee["invited_at"].endswith("Z")
    assert "last_seen" not in invitee  # no last-seen time is kept
    assert _actions(PHARMACY_A)[-1] == ("read_members", "success")


def test_an_admin_reads_one_member_and_an_unknown_one_is_a_journaled_404(world: World) -> None:
    username = _invite(world)
    one = world.call("GET", f"{MEMBERS}/{username}", "admin-a")
    assert one.status_code == 200 and json.loads(one.body)["username"] == username
    assert world.call("GET", f"{MEMBERS}/pharmacist-b", "admin-a").status_code == 404
    assert _actions(PHARMACY_A)[-2:] == [("read_member", "success"), ("read_member", "denied")]


def test_a_pending_invitation_is_re_sent_and_an_accepted_one_is_a_409(world: World) -> None:
    username = _invite(world)
    resent = world.call("POST", f"{MEMBERS}/{username}/invitation", "admin-a")
    assert resent.status_code == 200, resent.body
    assert json.loads(resent.body)["invitation"] == "pending"
    boto3.client("cognito-idp").admin_set_user_password(
        UserPoolId=world.pool_id,
        Username=username,
        Password="Chosen-by-the-member-1",  # pragma: allowlist secret
        Permanent=True,
    )
    assert json.loads(world.call("GET", f"{MEMBERS}/{username}", "admin-a").body)["invitation"] == "accepted"
    accepted = world.call("POST", f"{MEMBERS}/{username}/invitation", "admin-a")
    assert accepted.status_code == 409 and "accepted" in json.loads(accepted.body)["detail"]
    assert json.loads(accepted.body)["type"] == "tag:depistage.fr,2026:problems/no-pending-invitation"
    assert ("resend_invitation", "success") in _actions(PHARMACY_A)
    assert _actions(PHARMACY_A)[-1] == ("resend_invitation", "denied")


def test_an_admin_reads_the_pharmacys_settings_and_time_zone(world: World) -> None:
    response = world.call("GET", f"/v1/admin/pharmacies/{PHARMACY_A}/settings", "admin-a")
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert (body["finess"], body["time_zone"], body["psc_required"]) == (PHARMACY_A, "Europe/Paris", False)
    assert body["onboarded_at"].endswith("Z")
    assert _actions(PHARMACY_A)[-1] == ("read_pharmacy_settings", "success")


def test_the_platform_lists_its_pharmacies_with_member_counts_and_no_health_data(world: World) -> None:
    response = world.call("GET", "/v1/admin/pharmacies", "operator")
    assert response.status_code == 200, response.body
    pharmacies = json.loads(response.body)["pharmacies"]
    assert [(p["finess"], p["members"]) for p in pharmacies] == [(PHARMACY_B, 2), (PHARMACY_A, 2)]
    assert set(pharmacies[0]) == {"finess", "name", "time_zone", "onboarded_at", "members"}
    assert _actions("platform")[-1] == ("list_pharmacies", "success")
