"""Onboarding and membership decisions on in-memory ports: who may decide, what is journaled where,
and that a decision and its event are stored together or not at all."""

from __future__ import annotations

import pytest

from chalicelib.domain.commands import RevokeMember
from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import Membership, RequestMeta
from chalicelib.services import admin
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeDirectory,
    FakeJournal,
    FakeMemberships,
    FakePharmacies,
    FakeUsers,
    invite_command,
    pharmacy_command,
    settings_command,
)

PHARMACY = "750000010"
OTHER = "130000029"
OPERATOR = Principal(username="operator", role=Role.PLATFORM_ADMIN, finess=None)
OWNER = Principal(username="owner", role=Role.PHARMACY_ADMIN, finess=PHARMACY)
META = RequestMeta(request_id="r-1")
# national identifiers and where the national directory lists them as pharmacists
TITULAIRE = "810000000101"  # practises at PHARMACY
AT_OTHER = "810000000102"  # practises at OTHER
AT_BOTH = "810000000103"  # practises at both
DIRECTORY = {TITULAIRE: {PHARMACY}, AT_OTHER: {OTHER}, AT_BOTH: {PHARMACY, OTHER}}


def deps() -> admin.AdminDeps:
    return admin.AdminDeps(
        pharmacies=FakePharmacies(),
        memberships=FakeMemberships(),
        users=FakeUsers(),
        journal=FakeJournal(),
        directory=FakeDirectory({k: set(v) for k, v in DIRECTORY.items()}),
    )


def onboarded(finess: str = PHARMACY) -> admin.AdminDeps:
    d = deps()
    admin.onboard_pharmacy(
        d, Call(OPERATOR, META), pharmacy_command({"finess": finess, "name": "Pharmacie du Port"})
    )
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
        admin.onboard_pharmacy(d, Call(OWNER, META), pharmacy_command({"finess": OTHER, "name": "Pharmacie"}))
    assert not d.pharmacies.exists(OTHER)
    assert events(d) == [("onboard_pharmacy", "denied", PHARMACY)]
    assert (
        admin.onboard_pharmacy(
            d, Call(OPERATOR, META), pharmacy_command({"finess": OTHER, "name": "Pharmacie"})
        ).finess
        == OTHER
    )
    assert d.pharmacies.exists(OTHER) and events(d)[-1] == ("onboard_pharmacy", "success", OTHER)


def test_a_journal_that_cannot_write_onboards_nothing() -> None:
    d = deps()
    assert isinstance(d.journal, FakeJournal)
    d.journal.down = True
    with pytest.raises(ServiceUnavailable):
        admin.onboard_pharmacy(
            d, Call(OPERATOR, META), pharmacy_command({"finess": PHARMACY, "name": "Pharmacie"})
        )
    assert not d.pharmacies.exists(PHARMACY)


def test_the_platform_invites_a_first_pharmacy_admin_once_and_answers_for_it_on_its_own_chain() -> None:
    d = onboarded()
    with pytest.raises(Forbidden):
        admin.invite_member(
            d,
            Call(OPERATOR, META),
            invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacist"}),
        )
    first = admin.invite_member(
        d,
        Call(OPERATOR, META),
        invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacy_admin"}),
    )
    assert first.role is Role.PHARMACY_ADMIN and d.memberships.has_admin(PHARMACY)
    assert ("invite_member", "success", PHARMACY) in events(d) and (
        "invite_member",
        "success",
        None,
    ) in events(d)
    with pytest.raises(Conflict):
        admin.invite_member(
            d,
            Call(OPERATOR, META),
            invite_command(PHARMACY, {"national_id": AT_BOTH, "role": "pharmacy_admin"}),
        )
    assert [m.username for m in members(d).members.values()] == [first.username]


def test_the_platform_cannot_make_a_mailbox_of_its_own_a_new_pharmacy_s_first_admin() -> None:
    # It did: the operator invited its own mailbox as first pharmacy_admin, who then invited
    # pharmacists and read every record. The platform's first admin is a pharmacist the national
    # directory lists at that pharmacy, who logs in with Pro Santé Connect (and not the platform).
    d = onboarded()
    with pytest.raises(Forbidden):
        admin.invite_member(
            d,
            Call(OPERATOR, META),
            invite_command(PHARMACY, {"email": "operator@example.org", "role": "pharmacy_admin"}),
        )
    assert members(d).members == {} and isinstance(d.users, FakeUsers) and d.users.invited == {}
    assert events(d)[-2:] == [("invite_member", "denied", PHARMACY), ("invite_member", "denied", None)]


def test_the_platform_s_first_admin_must_be_listed_at_that_pharmacy_by_the_directory() -> None:
    d = onboarded()
    with pytest.raises(Forbidden):
        admin.invite_member(
            d,
            Call(OPERATOR, META),
            invite_command(PHARMACY, {"national_id": AT_OTHER, "role": "pharmacy_admin"}),
        )
    with pytest.raises(Forbidden):  # unknown to the directory
        admin.invite_member(
            d,
            Call(OPERATOR, META),
            invite_command(PHARMACY, {"national_id": "810000000199", "role": "pharmacy_admin"}),
        )
    assert members(d).members == {}
    first = admin.invite_member(
        d,
        Call(OPERATOR, META),
        invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacy_admin"}),
    )
    assert first.national_id == TITULAIRE and first.username == f"psc-{TITULAIRE}"


def test_a_pharmacy_cannot_take_the_place_of_the_one_the_directory_lists_a_pharmacist_at() -> None:
    # Squatting: OTHER's admin invited PHARMACY's pharmacist by national id; PHARMACY then got 409
    # for its own staff. Now OTHER is refused and PHARMACY invites them.
    d = onboarded()
    admin.onboard_pharmacy(d, Call(OPERATOR, META), pharmacy_command({"finess": OTHER, "name": "Autre"}))
    squatter = Principal(username="squatter", role=Role.PHARMACY_ADMIN, finess=OTHER)
    with pytest.raises(Forbidden):
        admin.invite_member(
            d, Call(squatter, META), invite_command(OTHER, {"national_id": TITULAIRE, "role": "pharmacist"})
        )
    assert events(d)[-1] == ("invite_member", "denied", OTHER)
    invited = admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacist"})
    )
    assert invited.finess == PHARMACY and d.memberships.get(f"psc-{TITULAIRE}") is not None


def test_a_membership_where_the_directory_does_not_list_them_moves_to_where_it_does() -> None:
    # a membership stored before invitations were checked (or at a pharmacy they left)
    d = onboarded()
    admin.onboard_pharmacy(d, Call(OPERATOR, META), pharmacy_command({"finess": OTHER, "name": "Autre"}))
    squatted = Membership(f"psc-{TITULAIRE}", Role.PHARMACIST, OTHER, national_id=TITULAIRE)
    d.memberships.add(squatted, created_by="squatter")
    moved = admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"rpps": TITULAIRE[1:], "role": "pharmacist"})
    )
    assert moved.finess == PHARMACY
    stored = d.memberships.get(f"psc-{TITULAIRE}")
    assert stored is not None and stored.finess == PHARMACY
    # both pharmacies see it on their own chains
    assert ("invite_member", "success", PHARMACY) in events(d)
    assert events(d)[-1] == ("member_moved", "success", OTHER)


def test_a_membership_the_directory_vouches_for_elsewhere_stays_and_says_why() -> None:
    d = onboarded()
    admin.onboard_pharmacy(d, Call(OPERATOR, META), pharmacy_command({"finess": OTHER, "name": "Autre"}))
    there = Membership(f"psc-{AT_BOTH}", Role.PHARMACIST, OTHER, national_id=AT_BOTH)
    d.memberships.add(there, created_by="other")
    with pytest.raises(Conflict) as refused:
        admin.invite_member(
            d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": AT_BOTH, "role": "pharmacist"})
        )
    assert "also lists them" in refused.value.detail
    assert d.memberships.get(f"psc-{AT_BOTH}") == there
    admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacist"})
    )
    with pytest.raises(Conflict):  # already a member here
        admin.invite_member(
            d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacist"})
        )


def test_a_directory_that_cannot_answer_invites_no_professional() -> None:
    d = onboarded()
    assert isinstance(d.directory, FakeDirectory)
    d.directory.down = True
    with pytest.raises(ServiceUnavailable):
        admin.invite_member(
            d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacist"})
        )
    assert members(d).members == {}


def test_a_pharmacy_admin_reaches_no_other_pharmacy() -> None:
    d = onboarded()
    admin.onboard_pharmacy(d, Call(OPERATOR, META), pharmacy_command({"finess": OTHER, "name": "Autre"}))
    with pytest.raises(NotFound):
        admin.invite_member(
            d, Call(OWNER, META), invite_command(OTHER, {"email": "p@example.fr", "role": "pharmacist"})
        )
    assert events(d)[-1] == ("invite_member", "denied", PHARMACY)
    assert members(d).members == {}


def test_an_admin_revokes_a_member_who_is_signed_out_everywhere_but_never_themselves() -> None:
    d = onboarded()
    d.memberships.add(Membership("owner", Role.PHARMACY_ADMIN, PHARMACY), created_by="test")
    d.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    with pytest.raises(Conflict):
        admin.revoke_member(d, Call(OWNER, META), RevokeMember(PHARMACY, "OWNER"))
    admin.revoke_member(d, Call(OWNER, META), RevokeMember(PHARMACY, "camille"))
    assert d.memberships.get("camille") is None
    assert isinstance(d.users, FakeUsers) and d.users.signed_out == ["camille"]
    assert events(d)[-1] == ("revoke_member", "success", PHARMACY)
    with pytest.raises(NotFound):
        admin.revoke_member(d, Call(OWNER, META), RevokeMember(PHARMACY, "camille"))


def test_an_admin_whose_own_membership_went_meanwhile_revokes_nobody() -> None:
    d = onboarded()
    d.memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    # `owner` is no longer a member: the revocation's condition fails inside the transaction
    with pytest.raises(Conflict):
        admin.revoke_member(d, Call(OWNER, META), RevokeMember(PHARMACY, "camille"))
    assert d.memberships.get("camille") is not None
    assert events(d)[-1] == ("revoke_member", "denied", PHARMACY)


def test_requiring_pro_sante_connect_is_a_setting_of_the_pharmacy_s_own_admins_or_the_platform() -> None:
    d = onboarded()
    admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacy_admin"})
    )
    assert (
        admin.set_pharmacy_settings(
            d, Call(OWNER, META), settings_command(PHARMACY, {"psc_required": True})
        ).psc_required
        is True
    )
    assert d.pharmacies.psc_required(PHARMACY)
    pharmacist = Principal(username="camille", role=Role.PHARMACIST, finess=PHARMACY)
    with pytest.raises(Forbidden):
        admin.set_pharmacy_settings(
            d, Call(pharmacist, META), settings_command(PHARMACY, {"psc_required": False})
        )
    assert d.pharmacies.psc_required(PHARMACY)


def test_psc_required_is_turned_on_only_once_an_admin_logs_in_with_psc() -> None:
    # it binds admins too: turned on with Cognito admins only, nobody could manage the pharmacy
    d = onboarded()
    d.memberships.add(Membership("owner", Role.PHARMACY_ADMIN, PHARMACY), created_by="test")
    with pytest.raises(Conflict):
        admin.set_pharmacy_settings(d, Call(OWNER, META), settings_command(PHARMACY, {"psc_required": True}))
    assert not d.pharmacies.psc_required(PHARMACY)
    assert events(d)[-1] == ("set_pharmacy_settings", "denied", PHARMACY)
    assert (
        admin.set_pharmacy_settings(
            d, Call(OWNER, META), settings_command(PHARMACY, {"psc_required": False})
        ).psc_required
        is False
    )


def test_a_pharmacy_that_requires_psc_invites_no_cognito_user_not_even_an_admin() -> None:
    # It did: an admin invited Cognito users as pharmacy_admin, who read everything.
    d = onboarded()
    admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacy_admin"})
    )
    admin.set_pharmacy_settings(d, Call(OWNER, META), settings_command(PHARMACY, {"psc_required": True}))
    for role in ("pharmacy_admin", "pharmacist"):
        with pytest.raises(Conflict):
            admin.invite_member(
                d, Call(OWNER, META), invite_command(PHARMACY, {"email": "adjoint@example.org", "role": role})
            )
    assert isinstance(d.users, FakeUsers) and d.users.invited == {}
    assert events(d)[-1] == ("invite_member", "denied", PHARMACY)
    by_id = admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"national_id": AT_BOTH, "role": "pharmacy_admin"})
    )
    assert by_id.role is Role.PHARMACY_ADMIN


def test_a_squat_does_not_block_the_platform_s_first_admin_where_the_directory_lists_them() -> None:
    d = onboarded()
    squatted = Membership(f"psc-{TITULAIRE}", Role.PHARMACIST, OTHER, national_id=TITULAIRE)
    d.memberships.add(squatted, created_by="squatter")
    first = admin.invite_member(
        d,
        Call(OPERATOR, META),
        invite_command(PHARMACY, {"national_id": TITULAIRE, "role": "pharmacy_admin"}),
    )
    assert d.memberships.get(first.username) == Membership(
        first.username, Role.PHARMACY_ADMIN, PHARMACY, national_id=TITULAIRE
    )
    assert members(d).first_admins == {PHARMACY: first.username}
    assert events(d)[-1] == ("member_moved", "success", OTHER)
    with pytest.raises(Conflict):  # still once only
        admin.invite_member(
            d,
            Call(OPERATOR, META),
            invite_command(PHARMACY, {"national_id": AT_BOTH, "role": "pharmacy_admin"}),
        )
