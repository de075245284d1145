"""Onboarding pharmacies and managing their members."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.outcomes import InvitedMember, OnboardedPharmacy, PharmacySettings
from chalicelib.domain.psc import PscRefused, check_practice, psc_username
from chalicelib.payloads import (
    parse_invitation,
    parse_pharmacy,
    parse_pharmacy_settings,
    validate_finess,
)
from chalicelib.ports import (
    AuditJournal,
    Change,
    Membership,
    MembershipRepository,
    PharmacyRepository,
    ProfessionalDirectory,
    RequestMeta,
    UserDirectory,
)
from chalicelib.services.access import audit, require_role

PLATFORM_ONLY = frozenset({Role.PLATFORM_ADMIN})
MEMBER_MANAGERS = frozenset({Role.PLATFORM_ADMIN, Role.PHARMACY_ADMIN})


@dataclass(frozen=True)
class AdminDeps:
    pharmacies: PharmacyRepository
    memberships: MembershipRepository
    users: UserDirectory
    journal: AuditJournal
    directory: ProfessionalDirectory


def onboard_pharmacy(deps: AdminDeps, caller: Principal, meta: RequestMeta, body: Any) -> OnboardedPharmacy:
    require_role(deps.journal, caller, meta, "onboard_pharmacy", PLATFORM_ONLY)
    finess, name, time_zone = parse_pharmacy(body)
    change = deps.pharmacies.add_change(finess, name, time_zone=time_zone, created_by=caller.username)
    audit(deps.journal, caller, meta, "onboard_pharmacy", finess=finess, changes=[change])
    return OnboardedPharmacy(finess=finess, name=name, time_zone=time_zone)


def _journal_change(
    deps: AdminDeps,
    caller: Principal,
    meta: RequestMeta,
    action: str,
    finess: str,
    changes: Sequence[Change] = (),
    *,
    reason: str,
    outcome: str = "success",
) -> None:
    """A membership decision goes on the pharmacy's chain, so the pharmacy sees it, in one
    transaction with the change; one the platform makes goes on the platform's chain as well (after
    it: a decision is never stored without the pharmacy's event), where its operators answer for it."""
    audit(deps.journal, caller, meta, action, finess=finess, changes=changes, outcome=outcome, reason=reason)
    if caller.role == Role.PLATFORM_ADMIN:
        audit(deps.journal, caller, meta, action, finess=None, outcome=outcome, reason=f"{finess}: {reason}")


def _refuse(
    deps: AdminDeps, caller: Principal, meta: RequestMeta, action: str, finess: str, error: DomainError
) -> DomainError:
    _journal_change(deps, caller, meta, action, finess, outcome="denied", reason=error.detail)
    return error


def _managed_pharmacy(deps: AdminDeps, caller: Principal, meta: RequestMeta, action: str, finess: str) -> str:
    """A platform admin may reach any pharmacy, a pharmacy admin only its own (another's is a 404)."""
    require_role(deps.journal, caller, meta, action, MEMBER_MANAGERS)
    try:
        finess = validate_finess(finess)
    except ValidationFailed as exc:
        raise NotFound("No such pharmacy.") from exc
    if caller.role == Role.PHARMACY_ADMIN and caller.finess != finess:
        audit(deps.journal, caller, meta, action, outcome="denied", reason="another pharmacy")
        raise NotFound("No such pharmacy.")
    if not deps.pharmacies.exists(finess):
        raise NotFound("No such pharmacy.")
    return finess


def invite_member(
    deps: AdminDeps, caller: Principal, meta: RequestMeta, finess: str, body: Any
) -> InvitedMember:
    """By e-mail (a Cognito invitation) or by national identifier / RPPS (a Pro Santé Connect member:
    no Cognito user; PSC and the national directory vouch for them at each login).

    Who invites whom (docs/security.md, "Who may invite whom"): a pharmacy's admins invite its members; the
    platform only its first pharmacy_admin, while it has none, and only a pharmacist the national
    directory lists at that pharmacy, who logs in with PSC: the platform reads no health data and
    cannot give itself the means to (a mailbox of its own would be a reader it controls). A pharmacy
    that requires PSC invites by national identifier only, admins included. A PSC professional is
    invited only where the directory lists them as a pharmacist, so no pharmacy takes the place of
    the one they practise at."""
    finess = _managed_pharmacy(deps, caller, meta, "invite_member", finess)
    invitation = parse_invitation(body)
    role = invitation.role
    by_platform = caller.role == Role.PLATFORM_ADMIN

    def refuse(error: DomainError) -> DomainError:
        return _refuse(deps, caller, meta, "invite_member", finess, error)

    if by_platform and role != Role.PHARMACY_ADMIN:
        raise refuse(
            Forbidden(
                "The platform invites only a pharmacy's first pharmacy_admin; its admins invite the rest."
            )
        )
    if by_platform and _has_acting_admin(deps, finess):
        raise refuse(Conflict("This pharmacy has a pharmacy_admin: its admins manage its members."))
    if invitation.national_id is None:
        if by_platform:
            raise refuse(
                Forbidden(
                    "The platform invites a pharmacy's first pharmacy_admin by national identifier: a "
                    "pharmacist the national directory lists at this pharmacy, who logs in with "
                    "Pro Santé Connect."
                )
            )
        if deps.pharmacies.psc_required(finess):
            raise refuse(
                Conflict(
                    "This pharmacy requires Pro Santé Connect: invite its members, admins included, "
                    "by national identifier."
                )
            )
        assert invitation.email is not None  # parse_invitation gives exactly one of them
        username = deps.users.invite(invitation.email)
        membership = Membership(username=username, role=role, finess=finess)
        result = InvitedMember(username, role, finess, email=invitation.email)
        change = (
            deps.memberships.add_first_admin_change(membership, created_by=caller.username)
            if by_platform
            else deps.memberships.add_change(membership, created_by=caller.username)
        )
        _commit(deps, caller, meta, finess, [change], reason=f"{username} as {role.value}")
        return result
    return _invite_professional(deps, caller, meta, finess, invitation.national_id, role, refuse)


def _has_acting_admin(deps: AdminDeps, finess: str, *, other_than: str | None = None) -> bool:
    """A pharmacy_admin who can log in there: at a pharmacy that requires PSC, a PSC one only."""
    if deps.pharmacies.psc_required(finess):
        return deps.memberships.has_psc_admin(finess, other_than=other_than)
    return deps.memberships.has_admin(finess, other_than=other_than)


def _lists_here(deps: AdminDeps, national_id: str, finess: str) -> bool:
    practice = deps.directory.practice(national_id)
    if practice is None:
        return False
    try:
        check_practice(practice, national_id=national_id, finess=finess)
    except PscRefused:
        return False
    return True


def _invite_professional(
    deps: AdminDeps,
    caller: Principal,
    meta: RequestMeta,
    finess: str,
    national_id: str,
    role: Role,
    refuse: Callable[[DomainError], DomainError],
) -> InvitedMember:
    """A membership is (professional, pharmacy), vouched for by the directory: invited only where
    it lists them as a pharmacist. A membership stored elsewhere, at a pharmacy the directory does not
    list them at (a squat, or a pharmacy they left), never blocks this one: it moves here, and both
    pharmacies' chains say so. One the directory also vouches for stays (a professional is a member
    of one pharmacy at a time; docs/security.md, "Who may invite whom")."""
    username = psc_username(national_id)
    if not _lists_here(deps, national_id, finess):
        raise refuse(
            Forbidden(
                "The national directory does not list this professional as a pharmacist at this pharmacy."
            )
        )
    membership = Membership(username=username, role=role, finess=finess, national_id=national_id)
    result = InvitedMember(username, role, finess, national_id=national_id)
    reason = f"{username} as {role.value} (Pro Santé Connect)"
    current = deps.memberships.get(username)
    by_platform = caller.role == Role.PLATFORM_ADMIN
    if current is None or current.finess is None:
        change = (
            deps.memberships.add_first_admin_change(membership, created_by=caller.username)
            if by_platform
            else deps.memberships.add_change(membership, created_by=caller.username)
        )
        _commit(deps, caller, meta, finess, [change], reason=reason)
        return result
    if current.finess == finess:
        raise refuse(Conflict("This professional is already a member of this pharmacy."))
    if _lists_here(deps, national_id, current.finess):
        raise refuse(
            Conflict(
                "This professional is a member of another pharmacy where the national directory also "
                "lists them; its admins can revoke that membership."
            )
        )
    # A move is a revocation the pharmacy left did not make: if it takes its last pharmacy_admin, the
    # platform's onboarding rule applies there again (a professional the directory lists there, by
    # national identifier), else nobody could ever manage that pharmacy again.
    leaves_no_admin = (
        current.role == Role.PHARMACY_ADMIN
        and not _has_acting_admin(deps, current.finess, other_than=username)
        and deps.pharmacies.exists(current.finess)  # a stray membership's pharmacy gets no mark removed
    )
    change = deps.memberships.move_change(
        current,
        membership,
        created_by=caller.username,
        first_admin=by_platform,
        leaves_no_admin=leaves_no_admin,
    )
    moved = f"{reason}, moved from {current.finess}: the national directory does not list them there"
    _commit(deps, caller, meta, finess, [change], reason=moved)
    left = f"{username} moved to {finess}: the national directory does not list them here"
    if leaves_no_admin:
        left += (
            "; they were its last pharmacy_admin: the platform may invite the next, one the "
            "directory lists here"
        )
    # the pharmacy they leave sees it on its own chain
    audit(deps.journal, caller, meta, "member_moved", finess=current.finess, reason=left)
    return result


def _commit(
    deps: AdminDeps,
    caller: Principal,
    meta: RequestMeta,
    finess: str,
    changes: Sequence[Change],
    *,
    reason: str,
) -> None:
    try:
        _journal_change(deps, caller, meta, "invite_member", finess, changes, reason=reason)
    except Conflict as exc:
        raise _refuse(deps, caller, meta, "invite_member", finess, exc) from exc


def set_pharmacy_settings(
    deps: AdminDeps, caller: Principal, meta: RequestMeta, finess: str, body: Any
) -> PharmacySettings:
    """`{"psc_required": true|false}`: whether its members, admins included, must log in with Pro
    Santé Connect; turned on only once the pharmacy has a pharmacy_admin who does. The platform may
    turn it on, never off: lifting it re-admits the pharmacy's Cognito members, whose passwords and
    MFA an operator of the user pool can reset, so only the pharmacy's own admins lift it. The
    platform's decisions are on its chain too."""
    finess = _managed_pharmacy(deps, caller, meta, "set_pharmacy_settings", finess)
    required = parse_pharmacy_settings(body)

    def refuse(error: DomainError) -> DomainError:
        return _refuse(deps, caller, meta, "set_pharmacy_settings", finess, error)

    if not required and caller.role == Role.PLATFORM_ADMIN:
        raise refuse(Forbidden("Only the pharmacy's own admins stop requiring Pro Santé Connect."))
    if required and not deps.memberships.has_psc_admin(finess):
        # it binds every member, admins included: without a PSC admin nobody could manage the pharmacy
        raise refuse(
            Conflict(
                "Requiring Pro Santé Connect binds admins too: first invite a pharmacy_admin by national "
                "identifier, who then logs in with Pro Santé Connect."
            )
        )
    change = deps.pharmacies.set_psc_required_change(finess, required, changed_by=caller.username)
    reason = f"psc_required={required}"
    _journal_change(deps, caller, meta, "set_pharmacy_settings", finess, [change], reason=reason)
    return PharmacySettings(finess=finess, psc_required=required)


def revoke_member(deps: AdminDeps, caller: Principal, meta: RequestMeta, finess: str, username: str) -> None:
    """Only the pharmacy's own admins revoke, never themselves, so it always keeps one admin."""
    finess = _managed_pharmacy(deps, caller, meta, "revoke_member", finess)
    if caller.role == Role.PLATFORM_ADMIN:
        raise _refuse(
            deps, caller, meta, "revoke_member", finess, Forbidden("A pharmacy's admins manage its members.")
        )
    if username.lower() == caller.username.lower():
        raise _refuse(deps, caller, meta, "revoke_member", finess, Conflict("You cannot revoke yourself."))
    membership = deps.memberships.get(username)
    if membership is None or membership.finess != finess:
        raise NotFound("No such member of this pharmacy.")
    change = deps.memberships.revoke_change(membership, by=caller.username)
    try:  # the removal and its event in one transaction: effective on the member's next request
        _journal_change(deps, caller, meta, "revoke_member", finess, [change], reason=membership.username)
    except Conflict as exc:
        raise _refuse(deps, caller, meta, "revoke_member", finess, exc) from exc
    if membership.national_id is None:  # a PSC member has no Cognito user (and no refresh token)
        deps.users.sign_out_everywhere(membership.username)  # and their refresh tokens die too
