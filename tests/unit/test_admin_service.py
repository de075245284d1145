"""Onboarding and membership decisions on in-memory ports: who may decide, what is journaled where,
and that a decision and its event are stored together or not at all."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import Membership, RequestMeta
from chalicelib.services import admin
from tests.fakes import FakeJournal, FakeMemberships, FakePharmacies, FakeUsers

PHARMACY = "750000010"
OTHER = "130000029"
OPERATOR = Principal(username="operator", role=Role.PLATFORM_ADMIN, finess=None)
OWNER = Principal(username="owner", role=Role.PHARMACY_ADMIN, finess=PHARMACY)
META = RequestMeta(request_id="r-1")


def deps() -> admin.AdminDeps:
    return admin.AdminDeps(
        pharmacies=FakePharmacies(), memberships=FakeMemberships(), users=FakeUsers(), journal=FakeJournal()
    )


def onboarded(finess: str = PHARMACY) -> admin.AdminDeps:
    d = deps()
    admin.onboard_pharmacy(d, OPERATOR, META, {"finess": finess, "name": "Pharmacie du Port"})
    return d


def members(d: admin.AdminDeps) -> FakeMemberships:
    assert isinstance(d.memberships, FakeMemberships)
    return d.memberships


def events(d: admin.AdminDeps) -> list[tuple[str, str, str | None]]:
    assert isinstance(d.journal, FakeJournal)
    return [(e.action, e.outcome, e.finess) for e in d.journal.events]


def test_only_the_platform_onboards_a_pharmacy_and_the_refusal_is_journaled() -> None:
    d = deps()
    with pytest.raises(Forbidden):
        admin.onboard_pharmacy(d, OWNER, META, {"finess": OTHER, "name": "Pharmacie"})
    assert not d.pharmacies.exists(OTHER)
    assert events(d) == [("onboard_pharmacy", "denied", PHARMACY)]
    assert admin.onboard_pharmacy(d, OPERATOR, META, {"finess": OTHER, "name": "Pharmacie"}).finess == OTHER
    assert d.pharmacies.exists(OTHER) and events(d)[-1] == ("onboard_pharmacy", "success", OTHER)


def test_a_journal_that_cannot_write_onboards_nothing() -> None:
    d = deps()
    assert isinstance(d.journal, FakeJournal)
    d.journal.down = True
    with pytest.raises(ServiceUnavailable):
        admin.onboard_pharmacy(d, OPERATOR, META, {"finess": PHARMACY, "name": "Pharmacie"})
    assert not d.pharmacies.exists(PHARMACY)


def test_the_platform_invites_a_first_pharmacy_admin_once_and_answers_for_it_on_its_own_chain() -> None:
    d = onboarded()
    with pytest.raises(Forbidden):
        admin.invite_member(d, OPERATOR, META, PHARMACY, {"email": "p@example.fr", "role": "pharmacist"})
    first = admin.invite_member(
        d, OPERATOR, META, PHARMACY, {"email": "o@example.fr", "role": "pharmacy_admin"}
    )
    assert first.role is Role.PHARMACY_ADMIN and d.memberships.has_admin(PHARMACY)
    assert ("invite_member", "success", PHARMACY) in events(d) and (
        "invite_member",
        "success",
        None,
    ) in events(d)
    with pytest.raises(Conflict):
        admin.invite_member(d, OPERATOR, META, PHARMACY, {"email": "x@example.fr", "role": "pharmacy_admin"})
    assert [m.username for m in members(d).members.values()] == [first.username]


def test_a_pharmacy_admin_reaches_no_other_pharmacy() -> None:
    d = onboarded()
    admin.onboard_pharmacy(d, OPERATOR, META, {"finess": OTHER, "name": "Autre"})
    with pytest.raises(NotFound):
        admin.invite_member(d, OWNER, META, OTHER, {"email": "p@example.fr", "role": "pharmacist"})
    assert events(d)[-1] == ("invite_member", "denied", PHARMACY)
    assert members(d).members == {}


def test_an_admin_revokes_a_member_who_is_signed_out_everywhere_but_never_themselves() -> None:
    d = onboarded()
    d.memberships.add(Membership("owner", Role.PHARMACY_ADMIN, PHARMACY), created_by="test")
    d.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    with pytest.raises(Conflict):
        admin.revoke_member(d, OWNER, META, PHARMACY, "OWNER")
    admin.revoke_member(d, OWNER, META, PHARMACY, "camille")
    assert d.memberships.get("camille") is None
    assert isinstance(d.users, FakeUsers) and d.users.signed_out == ["camille"]
    assert events(d)[-1] == ("revoke_member", "success", PHARMACY)
    with pytest.raises(NotFound):
        admin.revoke_member(d, OWNER, META, PHARMACY, "camille")


def test_an_admin_whose_own_membership_went_meanwhile_revokes_nobody() -> None:
    d = onboarded()
    d.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    # `owner` is no longer a member: the revocation's condition fails inside the transaction
    with pytest.raises(Conflict):
        admin.revoke_member(d, OWNER, META, PHARMACY, "camille")
    assert d.memberships.get("camille") is not None
    assert events(d)[-1] == ("revoke_member", "denied", PHARMACY)


def test_requiring_pro_sante_connect_is_a_setting_of_the_pharmacy_s_own_admins_or_the_platform() -> None:
    d = onboarded()
    assert admin.set_pharmacy_settings(d, OWNER, META, PHARMACY, {"psc_required": True}).psc_required is True
    assert d.pharmacies.psc_required(PHARMACY)
    pharmacist = Principal(username="camille", role=Role.PHARMACIST, finess=PHARMACY)
    with pytest.raises(Forbidden):
        admin.set_pharmacy_settings(d, pharmacist, META, PHARMACY, {"psc_required": False})
    assert d.pharmacies.psc_required(PHARMACY)
