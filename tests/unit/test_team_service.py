"""A pharmacy's team as its admins read it, its settings, and the platform's list of pharmacies, on
in-memory ports: who may read what, that each read is journaled on the right chain, and that a
re-sent invitation goes only to a Cognito member who never set a password."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.domain.commands import (
    ListPharmacies,
    ReadMember,
    ReadPharmacySettings,
    ReadTeam,
    ResendInvitation,
)
from chalicelib.domain.errors import Conflict, Forbidden, NotFound
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.psc import psc_username
from chalicelib.ports import Membership, RequestMeta
from chalicelib.services import admin, team
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeDirectory,
    FakeJournal,
    FakeMemberships,
    FakePharmacies,
    FakeUsers,
    invite_command,
    pharmacy_command,
)

PHARMACY = "750000010"
OTHER = "130000029"
NATIONAL_ID = "810000000101"
OPERATOR = Principal(username="operator", role=Role.PLATFORM_ADMIN, finess=None)
OWNER = Principal(username="owner", role=Role.PHARMACY_ADMIN, finess=PHARMACY)
OTHER_OWNER = Principal(username="other-owner", role=Role.PHARMACY_ADMIN, finess=OTHER)
PHARMACIST = Principal(username="pharmacist", role=Role.PHARMACIST, finess=PHARMACY)
META = RequestMeta(request_id="r-1")


def staffed() -> admin.AdminDeps:
    """Two pharmacies; PHARMACY's owner, a PSC admin the platform invited, and one Cognito invitee."""
    d = admin.AdminDeps(
        pharmacies=FakePharmacies(),
        memberships=FakeMemberships(),
        users=FakeUsers(),
        journal=FakeJournal(),
        directory=FakeDirectory({NATIONAL_ID: {PHARMACY}}),
    )
    for finess in (PHARMACY, OTHER):
        admin.onboard_pharmacy(d, Call(OPERATOR, META), pharmacy_command({"finess": finess, "name": "P"}))
    admin.invite_member(
        d,
        Call(OPERATOR, META),
        invite_command(PHARMACY, {"national_id": NATIONAL_ID, "role": "pharmacy_admin"}),
    )
    d.memberships.add(Membership("owner", Role.PHARMACY_ADMIN, PHARMACY), created_by="operator")
    admin.invite_member(
        d, Call(OWNER, META), invite_command(PHARMACY, {"email": "new@example.org", "role": "pharmacist"})
    )
    journal(d).events.clear()
    return d


def journal(d: admin.AdminDeps) -> FakeJournal:
    assert isinstance(d.journal, FakeJournal)
    return d.journal


def users(d: admin.AdminDeps) -> FakeUsers:
    assert isinstance(d.users, FakeUsers)
    return d.users


def events(d: admin.AdminDeps) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.outcome, e.finess) for e in journal(d).events]


def test_an_admin_lists_their_team_with_login_kind_invitation_state_and_who_invited_whom() -> None:
    d = staffed()
    listed = team.list_members(d, Call(OWNER, META), ReadTeam(PHARMACY))
    by_name = {m.username: m for m in listed.members}
    assert set(by_name) == {"owner", psc_username(NATIONAL_ID), "user-1"}
    invitee = by_name["user-1"]
    assert (invitee.login, invitee.invitation, invitee.email, invitee.invited_by) == (
        "cognito",
        "pending",
        "new@example.org",
        "owner",
    )
    psc = next(m for m in listed.members if m.login == "psc")
    assert (psc.invitation, psc.national_id, psc.email, psc.invited_by) == (
        None,
        NATIONAL_ID,
        None,
        "operator",
    )
    assert events(d) == [("read_members", "success", PHARMACY)]


def test_an_accepted_invitation_reads_accepted() -> None:
    d = staffed()
    users(d).accepted.add("user-1")
    assert team.read_member(d, Call(OWNER, META), ReadMember(PHARMACY, "user-1")).invitation == "accepted"
    assert events(d) == [("read_member", "success", PHARMACY)]


@pytest.mark.parametrize(
    "caller", [PHARMACIST, OTHER_OWNER, OPERATOR], ids=["pharmacist", "other", "platform"]
)
def test_only_the_pharmacys_own_admin_reads_its_team_and_each_refusal_is_journaled(caller: Principal) -> None:
    d = staffed()
    call = Call(caller, META)
    reads: list[Callable[[], object]] = [
        lambda: team.list_members(d, call, ReadTeam(PHARMACY)),
        lambda: team.read_member(d, call, ReadMember(PHARMACY, "user-1")),
        lambda: team.resend_invitation(d, call, ResendInvitation(PHARMACY, "user-1")),
    ]
    for read in reads:
        with pytest.raises((Forbidden, NotFound)):
            read()
    assert len(journal(d).events) >= 3
    assert all(outcome == "denied" for _, outcome, _ in events(d))
    assert users(d).resent == []


def test_a_member_of_another_pharmacy_is_not_found_and_the_refusal_journaled() -> None:
    d = staffed()
    d.memberships.add(Membership("elsewhere", Role.PHARMACIST, OTHER), created_by="other-owner")
    with pytest.raises(NotFound):
        team.read_member(d, Call(OWNER, META), ReadMember(PHARMACY, "elsewhere"))
    assert events(d) == [("read_member", "denied", PHARMACY)]


def test_a_pending_invitation_is_re_sent_and_journaled() -> None:
    d = staffed()
    member = team.resend_invitation(d, Call(OWNER, META), ResendInvitation(PHARMACY, "user-1"))
    assert member.invitation == "pending" and users(d).resent == ["user-1"]
    assert events(d) == [("resend_invitation", "success", PHARMACY)]


def test_an_accepted_or_psc_member_has_no_invitation_to_re_send_a_409_with_its_reason() -> None:
    d = staffed()
    users(d).accepted.add("user-1")
    with pytest.raises(Conflict, match="accepted"):
        team.resend_invitation(d, Call(OWNER, META), ResendInvitation(PHARMACY, "user-1"))
    psc = next(
        m.username
        for m in team.list_members(d, Call(OWNER, META), ReadTeam(PHARMACY)).members
        if m.national_id
    )
    with pytest.raises(Conflict, match="Pro Santé Connect"):
        team.resend_invitation(d, Call(OWNER, META), ResendInvitation(PHARMACY, psc))
    assert users(d).resent == []
    assert [(a, o) for a, o, _ in events(d)] == [
        ("resend_invitation", "denied"),
        ("read_members", "success"),
        ("resend_invitation", "denied"),
    ]


def test_the_settings_read_gives_the_time_zone_and_is_journaled_on_the_platforms_chain_too() -> None:
    d = staffed()
    settings = team.read_pharmacy_settings(d, Call(OWNER, META), ReadPharmacySettings(PHARMACY))
    assert (settings.finess, settings.time_zone, settings.psc_required) == (PHARMACY, "Europe/Paris", False)
    team.read_pharmacy_settings(d, Call(OPERATOR, META), ReadPharmacySettings(PHARMACY))
    assert events(d) == [
        ("read_pharmacy_settings", "success", PHARMACY),
        ("read_pharmacy_settings", "success", PHARMACY),
        ("read_pharmacy_settings", "success", None),
    ]
    for caller in (PHARMACIST, OTHER_OWNER):
        with pytest.raises((Forbidden, NotFound)):
            team.read_pharmacy_settings(d, Call(caller, META), ReadPharmacySettings(PHARMACY))
    assert [o for _, o, _ in events(d)[3:]] == ["denied", "denied"]


def test_the_platform_lists_its_pharmacies_with_member_counts_journaled_on_its_chain() -> None:
    d = staffed()
    listed = team.list_pharmacies(d, Call(OPERATOR, META), ListPharmacies())
    assert [(p.finess, p.members) for p in listed.pharmacies] == [(OTHER, 0), (PHARMACY, 3)]
    assert events(d) == [("list_pharmacies", "success", None)]
    for caller in (OWNER, PHARMACIST):
        with pytest.raises(Forbidden):
            team.list_pharmacies(d, Call(caller, META), ListPharmacies())
    assert [o for _, o, _ in events(d)[1:]] == ["denied", "denied"]
