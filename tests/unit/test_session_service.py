"""Authentication and logout on in-memory ports: the membership, not the token, decides; every
refusal is journaled with its reason and never the token."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Forbidden, Unauthenticated
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.psc import PSC_SESSION_CLIENT_ID
from chalicelib.ports import Membership, RequestMeta, VerifiedToken
from chalicelib.services import auth
from chalicelib.services.auth import AuthDeps
from chalicelib.services.call import Call
from chalicelib.services.refusals import UnauthenticatedRefusals
from testkit.fakes import FakeJournal, FakeMemberships, FakePharmacies, FakeTokens, FakeUsers, FixedClock

PHARMACY = "750000010"
META = RequestMeta(request_id="r-1", source_ip="192.0.2.1")


class World:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.journal = FakeJournal()
        self.memberships = FakeMemberships()
        self.pharmacies = FakePharmacies()
        self.pharmacies.add(PHARMACY, "Pharmacie", created_by="test")
        self.tokens = FakeTokens()
        self.refusals = UnauthenticatedRefusals(self.journal, self.clock)

    def token(self, name: str, username: str, client_id: str = "mobile", finess: str | None = None) -> None:
        issued = int(self.clock.now().timestamp())
        self.tokens.tokens[name] = VerifiedToken(
            username=username, client_id=client_id, issued_at=issued, finess=finess, minted_at=issued
        )

    def authenticate(self, header: str | None) -> Principal:
        return auth.authenticate(
            AuthDeps(
                self.tokens,
                self.memberships,
                self.journal,
                self.refusals,
                clock=self.clock,
                max_token_age_seconds=15 * 60,
                pharmacies=self.pharmacies,
            ),
            META,
            header,
            "GET /v1/tests",
        )


def test_the_role_and_pharmacy_come_from_the_membership_not_the_token() -> None:
    world = World()
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    world.token("t", "camille")
    assert world.authenticate("Bearer t") == Principal(
        "camille", Role.PHARMACIST, PHARMACY, client_id="mobile"
    )


@pytest.mark.parametrize("header", [None, "", "Basic dDp0", "Bearer ", "Bearer unknown"])
def test_no_valid_bearer_token_is_unauthenticated_and_journaled_without_the_token(header: str | None) -> None:
    world = World()
    with pytest.raises(Unauthenticated):
        world.authenticate(header)
    assert world.journal.actions() == [("authenticate", "denied")]
    assert "unknown" not in world.journal.events[0].reason and "dDp0" not in world.journal.events[0].reason


def test_a_valid_token_without_a_membership_is_forbidden() -> None:
    world = World()
    world.token("t", "stranger")
    with pytest.raises(Forbidden):
        world.authenticate("Bearer t")
    assert world.journal.actions() == [("authorize", "denied")]


def test_a_cognito_token_cannot_stand_in_for_a_pro_sante_connect_member() -> None:
    world = World()
    world.memberships.add(Membership("psc-810", Role.PHARMACIST, PHARMACY, national_id="810"), created_by="t")
    world.token("cognito", "psc-810")
    with pytest.raises(Unauthenticated):
        world.authenticate("Bearer cognito")
    world.token("ours", "psc-810", client_id=PSC_SESSION_CLIENT_ID, finess=PHARMACY)
    assert world.authenticate("Bearer ours").username == "psc-810"


def test_a_pro_sante_connect_session_is_valid_at_the_pharmacy_it_names_only() -> None:
    world = World()
    world.memberships.add(Membership("psc-810", Role.PHARMACIST, PHARMACY, national_id="810"), created_by="t")
    for name, finess in (("elsewhere", "130000029"), ("nowhere", None)):
        world.token(name, "psc-810", client_id=PSC_SESSION_CLIENT_ID, finess=finess)
        with pytest.raises(Unauthenticated):
            world.authenticate(f"Bearer {name}")
    assert world.journal.actions() == [("authenticate", "denied")] * 2


def test_a_cognito_member_of_a_pharmacy_that_requires_psc_is_refused_admins_included() -> None:
    world = World()
    world.pharmacies.pharmacies[PHARMACY].psc_required = True
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    world.memberships.add(Membership("owner", Role.PHARMACY_ADMIN, PHARMACY), created_by="test")
    world.token("p", "camille")
    world.token("a", "owner")
    with pytest.raises(Forbidden):
        world.authenticate("Bearer p")
    with pytest.raises(Forbidden):  # it let the admin in, who reads everything and invites anyone
        world.authenticate("Bearer a")


def test_logout_refuses_every_token_issued_until_then_and_signs_the_user_out_everywhere() -> None:
    world = World()
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    world.token("before", "camille")
    caller = world.authenticate("Bearer before")
    users = FakeUsers()
    auth.logout(auth.SessionDeps(world.memberships, users, world.journal, world.clock), Call(caller, META))
    assert users.signed_out == ["camille"] and world.journal.actions()[-1] == ("logout", "success")
    with pytest.raises(Unauthenticated):
        world.authenticate("Bearer before")
    world.clock.advance(seconds=1)
    world.token("after", "camille")
    assert world.authenticate("Bearer after").username == "camille"


def test_a_token_is_accepted_until_fifteen_minutes_after_its_iat_whatever_its_exp() -> None:
    world = World()
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    world.token("t", "camille")
    world.clock.advance(minutes=14, seconds=59)
    assert world.authenticate("Bearer t").username == "camille"


def test_a_token_older_than_fifteen_minutes_is_refused_journaled_and_quoting_nothing() -> None:
    world = World()
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    world.token("t", "camille")
    world.clock.advance(minutes=15, seconds=1)
    with pytest.raises(Unauthenticated) as refused:
        world.authenticate("Bearer t")
    assert "expired" in refused.value.detail and "camille" not in refused.value.detail
    assert world.journal.actions() == [("authenticate", "denied")]
    assert "camille" not in world.journal.events[0].reason


def test_a_refreshed_token_counts_its_age_from_its_own_iat_not_the_session_start() -> None:
    world = World()
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    session_start = int(world.clock.now().timestamp())
    world.clock.advance(hours=2)
    refreshed = int(world.clock.now().timestamp())
    world.tokens.tokens["t"] = VerifiedToken(
        username="camille", client_id="mobile", issued_at=session_start, minted_at=refreshed
    )
    world.clock.advance(minutes=10)
    assert world.authenticate("Bearer t").username == "camille"


def test_a_token_without_iat_is_refused() -> None:
    world = World()
    world.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    world.tokens.tokens["t"] = VerifiedToken(username="camille", client_id="mobile", issued_at=0)
    with pytest.raises(Unauthenticated):
        world.authenticate("Bearer t")
    assert world.journal.actions() == [("authenticate", "denied")]
