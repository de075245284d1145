"""Separation of duties: the platform onboards pharmacies and invites each one's first
pharmacy_admin, a pharmacist the national directory lists there who logs in with Pro Santé Connect,
nothing more; a pharmacy's admins manage its members and always keep one."""

from __future__ import annotations

from dataclasses import dataclass, replace

import boto3
import pytest
from chalice.test import HTTPResponse

from chalicelib.adapters.dynamodb.models import AuditEventModel, MemberModel
from chalicelib.domain.commands import RevokeMember
from chalicelib.domain.errors import Conflict
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.psc import psc_username
from chalicelib.ports import Membership, MembershipRepository, RequestMeta
from chalicelib.services import admin
from chalicelib.services.call import Call
from testkit.fakes import invite_command
from tests.conftest import PHARMACY_A, PHARMACY_B, World
from tests.psc import PHARMACIST_B, PscWorld, identity

NEW_FINESS = "690000013"
TITULAIRE = "810000000201"  # the directory lists them at NEW_FINESS (added by the tests that need it)
COLLEAGUE = "810000000202"


def _members_of(finess: str) -> set[str]:
    return {m.username for m in MemberModel.scan() if m.finess == finess}


def _cognito_users(world: World) -> int:
    return len(boto3.client("cognito-idp").list_users(UserPoolId=world.pool_id)["Users"])


def _events(chain: str) -> list[dict[str, object]]:
    return [e.event for e in AuditEventModel.query(chain)]


def _invite(
    world: World, finess: str, caller: str, role: str, email: str = "operator@example.org"
) -> HTTPResponse:
    return world.call(
        "POST", f"/v1/admin/pharmacies/{finess}/members", caller, {"email": email, "role": role}
    )


def test_the_platform_cannot_make_itself_a_pharmacist_of_any_pharmacy(world: World) -> None:
    # The first release answered 201 here, and the new member then read the pharmacy's records (200).
    members, users = _members_of(PHARMACY_A), _cognito_users(world)
    as_pharmacist = _invite(world, PHARMACY_A, "operator", "pharmacist")
    assert as_pharmacist.status_code == 403, as_pharmacist.body
    as_admin = _invite(world, PHARMACY_A, "operator", "pharmacy_admin")  # A has admin-a already
    assert as_admin.status_code == 409, as_admin.body
    assert _members_of(PHARMACY_A) == members
    assert _cognito_users(world) == users  # refused before anyone is invited
    # the pharmacy sees both attempts on its own chain, and so does the platform's
    denied = [e for e in _events(PHARMACY_A) if e["action"] == "invite_member" and e["outcome"] == "denied"]
    assert [e["actor"] for e in denied] == ["operator", "operator"]
    assert sum(1 for e in _events("platform") if e["action"] == "invite_member") == 2


def _listed_at_new_pharmacy(psc: PscWorld, *national_ids: str) -> None:
    """The national directory lists them as pharmacists at NEW_FINESS."""
    psc.fake.identities.extend(identity(national_id, finess=(NEW_FINESS,)) for national_id in national_ids)


def test_the_platform_invites_a_new_pharmacys_first_admin_and_no_one_else(psc: PscWorld) -> None:
    world = psc.world
    _listed_at_new_pharmacy(psc, TITULAIRE, COLLEAGUE)
    onboarded = world.call("POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "P"})
    assert onboarded.status_code == 201
    assert _invite(world, NEW_FINESS, "operator", "pharmacist", "ph@example.org").status_code == 403
    # It answered 201: the operator's own mailbox became the first pharmacy_admin, who invited
    # pharmacists and read every record. No single platform admin can end up reading health data.
    mailbox = _invite(world, NEW_FINESS, "operator", "pharmacy_admin", "operator@example.org")
    assert mailbox.status_code == 403, mailbox.body
    first = world.call(
        "POST",
        f"/v1/admin/pharmacies/{NEW_FINESS}/members",
        "operator",
        {"national_id": TITULAIRE, "role": "pharmacy_admin"},
    )
    assert first.status_code == 201, first.body
    second = world.call(
        "POST",
        f"/v1/admin/pharmacies/{NEW_FINESS}/members",
        "operator",
        {"national_id": COLLEAGUE, "role": "pharmacy_admin"},
    )
    assert second.status_code == 409
    assert _members_of(NEW_FINESS) == {psc_username(TITULAIRE)}
    invites = [(e["actor"], e["outcome"]) for e in _events(NEW_FINESS) if e["action"] == "invite_member"]
    assert invites == [("operator", "denied")] * 2 + [("operator", "success"), ("operator", "denied")]
    platform = [e for e in _events("platform") if e["action"] == "invite_member"]
    assert [e["outcome"] for e in platform] == ["denied", "denied", "success", "denied"]
    assert all(str(e["reason"]).startswith(NEW_FINESS) for e in platform)
    # the first admin is who the directory lists there, with their e-CPS: they manage the pharmacy
    token = psc.token(TITULAIRE)
    assert psc.call("GET", "/v1/audit", token).status_code == 200


def test_the_platform_s_first_admin_is_listed_at_that_pharmacy_by_the_directory(psc: PscWorld) -> None:
    world = psc.world
    assert (
        world.call(
            "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "P"}
        ).status_code
        == 201
    )
    for national_id in (PHARMACIST_B, "810000000199"):  # listed at B only; unknown to the directory
        refused = world.call(
            "POST",
            f"/v1/admin/pharmacies/{NEW_FINESS}/members",
            "operator",
            {"national_id": national_id, "role": "pharmacy_admin"},
        )
        assert refused.status_code == 403, refused.body
        assert national_id not in refused.body.decode()
    assert _members_of(NEW_FINESS) == set()


def test_a_pharmacy_admin_invites_admins_and_pharmacists_of_its_own_pharmacy(world: World) -> None:
    assert _invite(world, PHARMACY_A, "admin-a", "pharmacy_admin", "second@example.org").status_code == 201
    assert _invite(world, PHARMACY_A, "admin-a", "pharmacist", "third@example.org").status_code == 201


def test_the_platform_cannot_revoke_a_member(world: World) -> None:
    path = f"/v1/admin/pharmacies/{PHARMACY_A}/members/pharmacist-a"
    assert world.call("DELETE", path, "operator").status_code == 403
    assert world.call("GET", "/v1/tests", "pharmacist-a").status_code == 200
    denied = [e for e in _events(PHARMACY_A) if e["action"] == "revoke_member"]
    assert [(e["actor"], e["outcome"]) for e in denied] == [("operator", "denied")]


def test_an_admin_cannot_revoke_themselves(world: World) -> None:
    response = world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/admin-a", "admin-a")
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"
    assert world.call("GET", "/v1/audit", "admin-a").status_code == 200


def _deps(memberships: MembershipRepository | None = None) -> admin.AdminDeps:
    from chalicelib.bootstrap import get_container

    deps = get_container().admin
    return replace(deps, memberships=memberships) if memberships is not None else deps


def test_two_admins_revoking_each_other_leave_the_pharmacy_one(world: World) -> None:
    """Both were authenticated as admins (the middleware's read) before either revocation landed."""
    _deps().memberships.add(Membership("admin-a2", Role.PHARMACY_ADMIN, PHARMACY_A), created_by="tests")
    a = Principal("admin-a", Role.PHARMACY_ADMIN, PHARMACY_A)
    a2 = Principal("admin-a2", Role.PHARMACY_ADMIN, PHARMACY_A)
    admin.revoke_member(_deps(), Call(a, RequestMeta()), RevokeMember(PHARMACY_A, "admin-a2"))
    with pytest.raises(Conflict):
        admin.revoke_member(_deps(), Call(a2, RequestMeta()), RevokeMember(PHARMACY_A, "admin-a"))
    assert "admin-a" in _members_of(PHARMACY_A)
    assert "admin-a2" not in _members_of(PHARMACY_A)


@dataclass
class StaleAdminView:
    """The memberships as a reader that has not yet seen the other invitation would see them."""

    inner: MembershipRepository

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def has_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        return False


def test_two_racing_platform_invitations_give_one_first_admin(psc: PscWorld) -> None:
    world = psc.world
    _listed_at_new_pharmacy(psc, TITULAIRE, COLLEAGUE)
    assert (
        world.call(
            "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "P"}
        ).status_code
        == 201
    )
    operator = Principal("operator", Role.PLATFORM_ADMIN, None)
    deps = _deps(StaleAdminView(_deps().memberships))  # type: ignore[arg-type]
    body = {"national_id": TITULAIRE, "role": "pharmacy_admin"}
    first = admin.invite_member(deps, Call(operator, RequestMeta()), invite_command(NEW_FINESS, body))
    with pytest.raises(Conflict):
        admin.invite_member(
            deps,
            Call(operator, RequestMeta()),
            invite_command(NEW_FINESS, {**body, "national_id": COLLEAGUE}),
        )
    assert _members_of(NEW_FINESS) == {first.username}


def test_the_platform_cannot_lift_a_pharmacys_psc_requirement(psc: PscWorld) -> None:
    """It could (200): the platform turned "PSC required" off, and the pharmacy's Cognito members, whose
    passwords and MFA an operator of the pool can reset, read records again. Only the pharmacy's own
    admins lift it; the platform may only turn it on, and each decision is on both chains."""
    world, settings = psc.world, f"/v1/admin/pharmacies/{PHARMACY_A}/settings"
    psc.fake.identities.append(identity(TITULAIRE))  # the directory lists them at A
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"national_id": TITULAIRE, "role": "pharmacy_admin"},
    )
    assert invited.status_code == 201, invited.body
    assert world.call("PUT", settings, "operator", {"psc_required": True}).status_code == 200
    assert world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a").status_code == 403
    lifted = world.call("PUT", settings, "operator", {"psc_required": False})
    assert lifted.status_code == 403, lifted.body
    assert world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a").status_code == 403
    decisions = [
        (e["actor"], e["outcome"]) for e in _events(PHARMACY_A) if e["action"] == "set_pharmacy_settings"
    ]
    assert decisions == [("operator", "success"), ("operator", "denied")]
    platform = [e for e in _events("platform") if e["action"] == "set_pharmacy_settings"]
    assert [e["outcome"] for e in platform] == ["success", "denied"]
    assert all(str(e["reason"]).startswith(PHARMACY_A) for e in platform)
    # the pharmacy's PSC admin lifts it
    assert psc.call("PUT", settings, psc.token(TITULAIRE), {"psc_required": False}).status_code == 200
    assert world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a").status_code == 200


def test_a_pharmacy_whose_last_admin_moves_away_gets_its_next_first_admin_from_the_platform(
    psc: PscWorld,
) -> None:
    """A move is a revocation the pharmacy did not make: its only admin, no longer listed there, was
    taken by the pharmacy the directory now lists them at (201), leaving it no pharmacy_admin and no
    way to get one (the platform's invitation was 409, its first admin "already invited"). The move
    that leaves a pharmacy no admin re-opens the platform's onboarding rule there, on its chain."""
    world = psc.world
    _listed_at_new_pharmacy(psc, TITULAIRE, COLLEAGUE)
    onboarded = world.call("POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "P"})
    assert onboarded.status_code == 201
    first = {"national_id": TITULAIRE, "role": "pharmacy_admin"}
    members = f"/v1/admin/pharmacies/{NEW_FINESS}/members"
    assert world.call("POST", members, "operator", first).status_code == 201
    psc.set_identity(TITULAIRE, professions=[{"code": "21", "finess": [PHARMACY_A]}])  # they left for A
    moved = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"national_id": TITULAIRE, "role": "pharmacist"},
    )
    assert moved.status_code == 201, moved.body
    assert _members_of(NEW_FINESS) == set()
    reasons = [str(e["reason"]) for e in _events(NEW_FINESS) if e["action"] == "member_moved"]
    assert len(reasons) == 1 and "last pharmacy_admin" in reasons[0]
    # the platform invites its next first admin, on the onboarding rule: listed there, by national id
    mailbox = world.call("POST", members, "operator", {"email": "ops@example.org", "role": "pharmacy_admin"})
    assert mailbox.status_code == 403
    nxt = world.call("POST", members, "operator", {"national_id": COLLEAGUE, "role": "pharmacy_admin"})
    assert nxt.status_code == 201, nxt.body
    assert _members_of(NEW_FINESS) == {psc_username(COLLEAGUE)}
    again = world.call("POST", members, "operator", {"national_id": TITULAIRE, "role": "pharmacy_admin"})
    assert again.status_code in (403, 409)
    assert psc.call("GET", "/v1/audit", psc.token(COLLEAGUE)).status_code == 200


def test_moving_a_pharmacist_leaves_the_platform_no_second_invitation(psc: PscWorld) -> None:
    """Only the move of a pharmacy's last admin re-opens the platform's rule: a pharmacist's does not."""
    world = psc.world
    _listed_at_new_pharmacy(psc, TITULAIRE, COLLEAGUE)
    assert (
        world.call(
            "POST", "/v1/admin/pharmacies", "operator", {"finess": NEW_FINESS, "name": "P"}
        ).status_code
        == 201
    )
    members = f"/v1/admin/pharmacies/{NEW_FINESS}/members"
    assert (
        world.call(
            "POST", members, "operator", {"national_id": TITULAIRE, "role": "pharmacy_admin"}
        ).status_code
        == 201
    )
    admin_token = psc.token(TITULAIRE)
    staff = psc.call("POST", members, admin_token, {"national_id": COLLEAGUE, "role": "pharmacist"})
    assert staff.status_code == 201, staff.body
    psc.set_identity(COLLEAGUE, professions=[{"code": "21", "finess": [PHARMACY_A]}])
    moved = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"national_id": COLLEAGUE, "role": "pharmacist"},
    )
    assert moved.status_code == 201
    reasons = [str(e["reason"]) for e in _events(NEW_FINESS) if e["action"] == "member_moved"]
    assert len(reasons) == 1 and "last pharmacy_admin" not in reasons[0]
    _listed_at_new_pharmacy(psc, "810000000203")
    refused = world.call(
        "POST", members, "operator", {"national_id": "810000000203", "role": "pharmacy_admin"}
    )
    assert refused.status_code == 409


def test_a_psc_only_pharmacy_whose_last_psc_admin_moves_away_gets_its_next_from_the_platform(
    psc: PscWorld,
) -> None:
    """A pharmacy that requires PSC refuses its Cognito admins: when its last PSC admin moves away,
    they cannot act, nor lift the requirement (the platform may not either), so the platform's
    onboarding rule applies again there (409 before: a Cognito admin counted as one)."""
    world, settings = psc.world, f"/v1/admin/pharmacies/{PHARMACY_A}/settings"
    psc.fake.identities.extend(identity(n) for n in (TITULAIRE, COLLEAGUE))  # listed at A
    members = f"/v1/admin/pharmacies/{PHARMACY_A}/members"
    invited = world.call("POST", members, "admin-a", {"national_id": TITULAIRE, "role": "pharmacy_admin"})
    assert invited.status_code == 201, invited.body
    assert psc.call("PUT", settings, psc.token(TITULAIRE), {"psc_required": True}).status_code == 200
    psc.set_identity(TITULAIRE, professions=[{"code": "21", "finess": [PHARMACY_B]}])  # they left for B
    moved = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_B}/members",
        "admin-b",
        {"national_id": TITULAIRE, "role": "pharmacist"},
    )
    assert moved.status_code == 201, moved.body
    assert world.call("GET", "/v1/audit", "admin-a").status_code == 403  # PSC required
    nxt = world.call("POST", members, "operator", {"national_id": COLLEAGUE, "role": "pharmacy_admin"})
    assert nxt.status_code == 201, nxt.body
    assert psc.call("GET", "/v1/audit", psc.token(COLLEAGUE)).status_code == 200
