"""A pharmacy's team as its admins read it (members, one member, a pending invitation re-sent),
its settings, and the platform's list of pharmacies. Every read is journaled before its data
leaves: on the pharmacy's chain, and the platform's reads on the platform's chain too."""

from __future__ import annotations

from chalicelib.domain.commands import (
    ListPharmacies,
    ReadMember,
    ReadPharmacySettings,
    ReadTeam,
    ResendInvitation,
)
from chalicelib.domain.errors import Conflict, Forbidden, NotFound
from chalicelib.domain.outcomes import PharmacyList, PharmacyOverview, PharmacySummary, Team, TeamMember
from chalicelib.ports import CognitoInvitation, PharmacyMember
from chalicelib.services.access import require_role
from chalicelib.services.admin import PLATFORM_ONLY, AdminDeps, _Decision, managed_pharmacy
from chalicelib.services.call import Call

COGNITO = "cognito"
PSC = "psc"


def _team(deps: AdminDeps, call: Call, action: str, finess: str) -> _Decision:
    """Only the pharmacy's own admins read its team: the platform invites a first admin by national
    identifier and reads no member's e-mail (a refusal, journaled on both chains)."""
    decision = managed_pharmacy(deps, call, action, finess)
    if decision.by_platform:
        raise decision.refuse(Forbidden("A pharmacy's admins manage its members."))
    return decision


def _member(
    deps: AdminDeps, entry: PharmacyMember, invitation: CognitoInvitation | None = None
) -> TeamMember:
    """`invitation`: the Cognito user as already read (else read here, one round trip)."""
    membership = entry.membership
    login, state, email = PSC, None, None
    if membership.national_id is None:
        login = COGNITO
        invitation = invitation or deps.users.invitation(membership.username)
        if invitation is not None:  # else the pool lost the user: they cannot log in, nothing to accept
            state, email = ("pending" if invitation.pending else "accepted"), invitation.email
    return TeamMember(
        username=membership.username,
        role=membership.role,
        login=login,
        invited_at=entry.invited_at,
        invited_by=entry.invited_by,
        invitation=state,
        email=email,
        national_id=membership.national_id,
    )


def _one(deps: AdminDeps, decision: _Decision, username: str) -> PharmacyMember:
    found = deps.memberships.members_of(decision.finess, username=username)
    if not found:
        raise decision.refuse(NotFound("No such member of this pharmacy."))
    return found[0]


def list_members(deps: AdminDeps, call: Call, command: ReadTeam) -> Team:
    decision = _team(deps, call, "read_members", command.finess)
    members = tuple(_member(deps, entry) for entry in deps.memberships.members_of(decision.finess))
    decision.journal(reason=f"{len(members)} members")
    return Team(decision.finess, members)


def read_member(deps: AdminDeps, call: Call, command: ReadMember) -> TeamMember:
    decision = _team(deps, call, "read_member", command.finess)
    member = _member(deps, _one(deps, decision, command.username))
    decision.journal(reason=member.username)
    return member


def resend_invitation(deps: AdminDeps, call: Call, command: ResendInvitation) -> TeamMember:
    """Cognito e-mails a new temporary password; only to a member who never set one."""
    decision = _team(deps, call, "resend_invitation", command.finess)
    entry = _one(deps, decision, command.username)
    username = entry.membership.username
    if entry.membership.national_id is not None:
        raise decision.refuse(
            Conflict("A Pro Santé Connect member has no invitation to re-send: they log in with their e-CPS.")
        )
    invitation = deps.users.invitation(username)
    if invitation is None or not invitation.pending:
        raise decision.refuse(Conflict("This member has accepted their invitation: there is none pending."))
    try:
        deps.users.resend_invitation(username)
    except Conflict as exc:  # accepted meanwhile
        raise decision.refuse(exc) from exc
    decision.journal(reason=username)
    return _member(deps, entry, invitation)  # as read before: a re-sent invitation is still pending


def read_pharmacy_settings(deps: AdminDeps, call: Call, command: ReadPharmacySettings) -> PharmacyOverview:
    """Its admins, and the platform (which may require Pro Santé Connect there), read them."""
    decision = managed_pharmacy(deps, call, "read_pharmacy_settings", command.finess)
    entry = deps.pharmacies.entry(decision.finess)
    if entry is None:  # gone since managed_pharmacy saw it
        raise decision.refuse(NotFound("No such pharmacy."))
    decision.journal(reason="settings")
    return PharmacyOverview(
        entry.finess, entry.name, entry.time_zone, entry.onboarded_at, entry.psc_required, entry.opening_hours
    )


def list_pharmacies(deps: AdminDeps, call: Call, command: ListPharmacies) -> PharmacyList:
    """The platform's pharmacies with their member counts (one counting query each): no member's
    name, no health data; journaled on the platform's chain."""
    require_role(deps.journal, call, "list_pharmacies", PLATFORM_ONLY)
    summaries = tuple(
        PharmacySummary(
            entry.finess,
            entry.name,
            entry.time_zone,
            entry.onboarded_at,
            deps.memberships.count_members(entry.finess),
        )
        for entry in deps.pharmacies.entries()
    )
    call.audit(deps.journal).record("list_pharmacies", reason=f"{len(summaries)} pharmacies")
    return PharmacyList(summaries)
