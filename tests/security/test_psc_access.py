"""Pro Santé Connect members: isolation, the per-pharmacy "PSC required" setting, and the two logins
never standing in for each other."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from chalicelib import bootstrap
from chalicelib.domain.psc import psc_username
from testkit.patients import screening_body
from testkit.tokens import foreign_key
from tests.conftest import PHARMACY_A, PHARMACY_B
from tests.psc import PHARMACIST_A, PHARMACIST_B, PscWorld, identity

SETTINGS_A = f"/v1/admin/pharmacies/{PHARMACY_A}/settings"


def created(psc: PscWorld, token: str) -> dict[str, Any]:
    response = psc.call("POST", "/v1/tests", token, screening_body(0))
    assert response.status_code == 201, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_a_psc_pharmacist_records_tests_of_their_own_pharmacy_only(psc: PscWorld) -> None:
    token_a = psc.token(PHARMACIST_A)
    record = created(psc, token_a)
    assert record["finess"] == PHARMACY_A and record["created_by"] == psc_username(PHARMACIST_A)
    token_b = psc.token(PHARMACIST_B)
    for method, path in (("GET", f"/v1/tests/{record['id']}"), ("GET", f"/v1/tests/{record['id']}/delivery")):
        assert psc.call(method, path, token_b).status_code == 404
    assert (
        psc.call("PUT", f"/v1/tests/{record['id']}/result", token_b, {"result": "positive"}).status_code
        == 404
    )
    # a PSC pharmacist has no admin rights: no audit journal, no members
    assert psc.call("GET", "/v1/audit", token_a).status_code == 403
    invite = {"national_id": "810000000077", "role": "pharmacist"}
    assert psc.call("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members", token_a, invite).status_code == 403
    # and their reads are journaled like a Cognito pharmacist's
    events = json.loads(psc.world.call("GET", "/v1/audit?limit=200", "admin-a").body)["items"]
    assert any(
        e["action"] == "create"
        and e["actor"] == psc_username(PHARMACIST_A)
        and record["id"] in e["record_ids"]
        for e in events
    ), [e["action"] for e in events]


ADMIN_A = "810000000301"  # a pharmacist the directory lists at A, invited there as pharmacy_admin


def a_psc_admin_at_a(psc: PscWorld) -> str:
    """The documented path to PSC required: a Cognito admin invites a PSC pharmacy_admin first."""
    psc.fake.identities.append(identity(ADMIN_A))
    invited = psc.world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"national_id": ADMIN_A, "role": "pharmacy_admin"},
    )
    assert invited.status_code == 201, invited.body
    return psc.token(ADMIN_A)


def test_psc_required_binds_every_member_of_the_pharmacy_admins_included(psc: PscWorld) -> None:
    world = psc.world
    assert world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a").status_code == 200
    # not before the pharmacy has an admin who logs in with PSC: nobody could manage it otherwise
    too_soon = world.call("PUT", SETTINGS_A, "admin-a", {"psc_required": True})
    assert too_soon.status_code == 409, too_soon.body
    psc_admin = a_psc_admin_at_a(psc)
    turned_on = world.call("PUT", SETTINGS_A, "admin-a", {"psc_required": True})
    assert turned_on.status_code == 200 and json.loads(turned_on.body) == {
        "finess": PHARMACY_A,
        "psc_required": True,
        "opening_hours": None,
    }
    refused = world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a")
    assert refused.status_code == 403 and "Pro Santé Connect" in json.loads(refused.body)["detail"]
    # It answered 200: Cognito admins kept reading the pharmacy's journal and inviting Cognito users.
    assert world.call("GET", "/v1/audit", "admin-a").status_code == 403
    invite = {"email": "adjoint@example.org", "role": "pharmacy_admin"}
    assert (
        world.call("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members", "admin-a", invite).status_code == 403
    )
    by_mail = psc.call("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members", psc_admin, invite)
    assert by_mail.status_code == 409, by_mail.body
    assert (
        world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-b").status_code == 200
    )  # B is not concerned
    assert psc.call("GET", "/v1/tests?date=2026-11-29", psc.token(PHARMACIST_A)).status_code == 200
    events = json.loads(psc.call("GET", "/v1/audit?limit=200", psc_admin).body)["items"]
    assert {(e["action"], e["actor"]) for e in events} >= {("set_pharmacy_settings", "admin-a")}
    refusals = {e["actor"] for e in events if e["reason"].startswith("psc required")}
    assert refusals >= {"pharmacist-a", "admin-a"}
    assert psc.call("PUT", SETTINGS_A, psc_admin, {"psc_required": False}).status_code == 200
    assert world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a").status_code == 200


def test_another_instance_applies_the_psc_setting_within_its_max_age(psc: PscWorld) -> None:
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbPharmacies

    now = [1000.0]
    other = DynamoDbPharmacies(SystemClock(), settings_max_age_seconds=60, monotonic=lambda: now[0])
    assert other.psc_required(PHARMACY_A) is False
    psc_admin = a_psc_admin_at_a(psc)
    assert psc.world.call("PUT", SETTINGS_A, "admin-a", {"psc_required": True}).status_code == 200
    now[0] += 59
    assert other.psc_required(PHARMACY_A) is False  # docs/psc.md's "within a minute"
    now[0] += 1
    assert other.psc_required(PHARMACY_A) is True
    psc.call("PUT", SETTINGS_A, psc_admin, {"psc_required": False})


@pytest.mark.parametrize(("caller", "status"), [("pharmacist-a", 403), ("admin-b", 404), (None, 401)])
def test_only_the_pharmacy_admin_or_the_platform_admin_changes_the_psc_setting(
    psc: PscWorld, caller: str | None, status: int
) -> None:
    assert psc.world.call("PUT", SETTINGS_A, caller, {"psc_required": True}).status_code == status
    assert psc.world.call("GET", "/v1/tests?date=2026-11-29", "pharmacist-a").status_code == 200


def test_the_psc_setting_takes_a_boolean_only(psc: PscWorld) -> None:
    response = psc.world.call("PUT", SETTINGS_A, "admin-a", {"psc_required": "yes"})
    assert response.status_code == 400
    assert json.loads(response.body)["errors"] == [
        {"field": "psc_required", "message": "must be true or false"}
    ]


def test_a_session_token_for_a_cognito_user_is_refused(psc: PscWorld) -> None:
    """Our issuer's key cannot log anyone in as a Cognito member: the membership says which login."""
    token, _ = bootstrap.get_container().psc.issuer.issue("pharmacist-a", PHARMACY_A)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", token).status_code == 401


def test_a_cognito_token_for_a_psc_member_is_refused(psc: PscWorld) -> None:
    cognito = psc.world.token(psc_username(PHARMACIST_A))
    assert psc.call("GET", "/v1/tests?date=2026-11-29", cognito).status_code == 401


@pytest.mark.parametrize("forgery", ["foreign key", "alg none", "expired", "other issuer", "id token"])
def test_forged_session_tokens_are_401(psc: PscWorld, forgery: str) -> None:
    genuine = psc.token(PHARMACIST_A)
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    key: Any = foreign_key()
    algorithm = "RS256"
    if forgery == "alg none":
        key, algorithm = None, "none"
    elif forgery == "expired":
        claims.update(iat=claims["iat"] - 3600, exp=claims["iat"] - 1800)
    elif forgery == "other issuer":
        claims["iss"] = "urn:depistage:elsewhere:psc-session"
    elif forgery == "id token":
        claims["token_use"] = "id"
    forged = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": header["kid"]})
    assert psc.call("GET", "/v1/tests?date=2026-11-29", forged).status_code == 401


def test_an_admin_invites_a_pharmacist_by_rpps_and_revokes_them(psc: PscWorld) -> None:
    world = psc.world
    psc.fake.identities.append(identity("810000000042", finess=(PHARMACY_B,)))
    members = f"/v1/admin/pharmacies/{PHARMACY_B}/members"
    invited = world.call("POST", members, "admin-b", {"rpps": "10000000042", "role": "pharmacist"})
    assert invited.status_code == 201, invited.body
    member = json.loads(invited.body)
    assert member == {
        "username": "psc-810000000042",
        "national_id": "810000000042",
        "role": "pharmacist",
        "finess": PHARMACY_B,
    }
    again = world.call("POST", members, "admin-b", {"national_id": "810000000042", "role": "pharmacist"})
    assert again.status_code == 409
    # another pharmacy, where the directory does not list them, cannot take over a PSC member
    other = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"rpps": "10000000042", "role": "pharmacist"},
    )
    assert other.status_code == 403
    revoked = world.call("DELETE", f"{members}/psc-810000000042", "admin-b")
    assert revoked.status_code == 204
    assert psc.start("810000000042").status_code == 201  # the same answer as for anyone
    assert "810000000042" not in [sent["login_hint"] for sent in psc.fake.seen]  # but no push


def test_a_psc_session_vouched_for_one_pharmacy_is_refused_at_another_that_invites_them_later(
    psc: PscWorld,
) -> None:
    """The reproduction: revoked at A, invited by B, the token vouched for A read B's records for
    the rest of its 15 minutes. The token names A: at B it is refused."""
    world = psc.world
    token_a = psc.token(PHARMACIST_A)
    of_b = world.call("POST", "/v1/tests", "pharmacist-b", screening_body(1))
    assert of_b.status_code == 201, of_b.body
    record_b = json.loads(of_b.body)["id"]
    username = psc_username(PHARMACIST_A)
    assert (
        world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{username}", "admin-a").status_code
        == 204
    )
    # they now practise at B, as the national directory says, and B invites them
    psc.set_identity(PHARMACIST_A, professions=[{"code": "21", "finess": [PHARMACY_B]}])
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_B}/members",
        "admin-b",
        {"national_id": PHARMACIST_A, "role": "pharmacist"},
    )
    assert invited.status_code == 201, invited.body
    for method, path in (("GET", f"/v1/tests/{record_b}"), ("GET", "/v1/tests?date=2026-11-29")):
        refused = psc.call(method, path, token_a)
        assert refused.status_code == 401, (path, refused.body)
        assert "PHARMACY" not in refused.body.decode() and PHARMACY_A not in refused.body.decode()
    events = json.loads(world.call("GET", "/v1/audit?limit=200", "admin-b").body)["items"]
    assert any(
        e["action"] == "authenticate" and e["outcome"] == "denied" and e["actor"] == username for e in events
    )


def test_a_session_token_without_its_pharmacy_is_refused(psc: PscWorld) -> None:
    """A token of our issuer that names no FINESS (or another one) is no session anywhere."""
    genuine = psc.token(PHARMACIST_A)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", genuine).status_code == 200
    issuer = bootstrap.get_container().psc.issuer
    elsewhere, _ = issuer.issue(psc_username(PHARMACIST_A), PHARMACY_B)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", elsewhere).status_code == 401
