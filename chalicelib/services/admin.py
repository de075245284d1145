"""Onboarding pharmacies and managing their members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.commands import ChangePharmacySettings, InviteMember, OnboardPharmacy, RevokeMember
from chalicelib.domain.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.model import Role
from chalicelib.domain.outcomes import InvitedMember, OnboardedPharmacy, PharmacySettings
from chalicelib.domain.psc import PscRefused, check_practice, psc_username
from chalicelib.payloads import validate_finess
from chalicelib.ports import (
    AuditJournal,
    Change,
    Membership,
    MembershipRepository,
    PharmacyRepository,
    ProfessionalDirectory,
    UserDirectory,
)
from chalicelib.services.access import require_role
from chalicelib.services.call import DENIED, SUCCESS, Audit, Call

PLATFORM_ONLY = frozenset({Role.PLATFORM_ADMIN})
MEMBER_MANAGERS = frozenset({Role.PLATFORM_ADMIN, Role.PHARMACY_ADMIN})


@dataclass(frozen=True)
class AdminDeps:
    pharmacies: PharmacyRepository
    memberships: MembershipRepository
    users: UserDirectory
    journal: AuditJournal
    directory: ProfessionalDirectory


def admit_onboarding(deps: AdminDeps, call: Call) -> None:
    """Onboarding's role check (a refusal journaled), for a view to run before it answers a
    malformed request (chalicelib/api/context.admitted_then_parsed)."""
    require_role(deps.journal, call, "onboard_pharmacy", PLATFORM_ONLY)


def admit_management(deps: AdminDeps, call: Call, action: str, finess: str) -> None:
    """What `action` on `finess`'s members or settings checks first: the role, then that pharmacy
    (another's, or none, is a 404; a refusal journaled), for a view to run before it answers a
    malformed request (chalicelib/api/context.admitted_then_parsed)."""
    _managed_pharmacy(deps, call, action, finess)


def onboard_pharmacy(deps: AdminDeps, call: Call, command: OnboardPharmacy) -> OnboardedPharmacy:
    require_role(deps.journal, call, "onboard_pharmacy", PLATFORM_ONLY)
    finess, name, time_zone = command.finess, command.name, command.time_zone
    change = deps.pharmacies.add_change(finess, name, time_zone=time_zone, created_by=call.caller.username)
    call.audit(deps.journal).record("onboard_pharmacy", finess=finess, changes=[change])
    return OnboardedPharmacy(finess=finess, name=name, time_zone=time_zone)


@dataclass(frozen=True)
class _Decision:
    """One membership decision (`action`) about the pharmacy `finess`, journaled on the pharmacy's
    chain, so the pharmacy sees it, in one transaction with the change; one the platform makes goes
    on the platform's chain as well (after it: a decision is never stored without the pharmacy's
    event), where its operators answer for it."""

    audit: Audit
    by_platform: bool
    action: str
    finess: str

    @classmethod
    def of(cls, deps: AdminDeps, call: Call, action: str, finess: str) -> _Decision:
        return cls(call.audit(deps.journal), call.caller.role == Role.PLATFORM_ADMIN, action, finess)

    def journal(self, changes: Sequence[Change] = (), *, reason: str, outcome: str = SUCCESS) -> None:
        self.audit.record(self.action, finess=self.finess, changes=changes, outcome=outcome, reason=reason)
        if self.by_platform:
            self.audit.record(self.action, outcome=outcome, reason=f"{self.finess}: {reason}")

    def refuse(self, error: DomainError) -> DomainError:
        """`error`, once journaled as a refusal (its detail the reason)."""
        self.journal(outcome=DENIED, reason=error.detail)
        return error

    def commit(self, changes: Sequence[Change], *, reason: str) -> None:
        """The change and its events; a change that lost a race (Conflict) is a journaled refusal."""
        try:
            self.journal(changes, reason=reason)
        except Conflict as exc:
            raise self.refuse(exc) from exc


def _managed_pharmacy(deps: AdminDeps, call: Call, action: str, finess: str) -> _Decision:
    """A platform admin may reach any pharmacy, a pharmacy admin only its own (another's is a 404)."""
    require_role(deps.journal, call, action, MEMBER_MANAGERS)
    try:
        finess = validate_finess(finess)
    except ValidationFailed as exc:
        raise NotFound("No such pharmacy.") from exc
    if call.caller.role == Role.PHARMACY_ADMIN and call.caller.finess != finess:
        call.audit(deps.journal).deny(action, "another pharmacy")
        raise NotFound("No such pharmacy.")
    if not deps.pharmacies.exists(finess):
        raise NotFound("No such pharmacy.")
    return _Decision.of(deps, call, action, finess)


managed_pharmacy = _managed_pharmacy


def invite_member(deps: AdminDeps, call: Call, command: InviteMember) -> InvitedMember:
    """By e-mail (a Cognito invitation) or by national identifier / RPPS (a Pro Santé Connect member:
    no Cognito user; PSC and the national directory vouch for them at each login).

    Who invites whom (docs/security.md, "Who may invite whom"): a pharmacy's admins invite its members; the
    platform only its first pharmacy_admin, while it has none, and only a pharmacist the national
    directory lists at that pharmacy, who logs in with PSC: the platform reads no health data and
    cannot give itself the means to (a mailbox of its own would be a reader it controls). A pharmacy
    that requires PSC invites by national identifier only, admins included. A PSC professional is
    invited only where the directory lists them as a pharmacist, so no pharmacy takes the place of
    the one they practise at."""
    decision = _managed_pharmacy(deps, call, "invite_member", command.finess)
    finess, role, by_platform = decision.finess, command.role, decision.by_platform
    if by_platform and role != Role.PHARMACY_ADMIN:
        raise decision.refuse(
            Forbidden(
                "The platform invites only a pharmacy's first pharmacy_admin; its admins invite the rest."
            )
        )
    if by_platform and _has_acting_admin(deps, finess):
        raise decision.refuse(Conflict("This pharmacy has a pharmacy_admin: its admins manage its members."))
    if command.national_id is not None:
        return _invite_professional(deps, call, decision, command.national_id, role)
    if by_platform:
        raise decision.refuse(
            Forbidden(
                "The platform invites a pharmacy's first pharmacy_admin by national identifier: a "
                "pharmacist the national directory lists at this pharmacy, who logs in with "
                "Pro Santé Connect."
            )
        )
    if deps.pharmacies.psc_required(finess):
        raise decision.refuse(
            Conflict(
                "This pharmacy requires Pro Santé Connect: invite its members, admins included, "
                "by national identifier."
            )
        )
    assert command.email is not None  # an invitation names exactly one of them
    username = deps.users.invite(command.email)
    membership = Membership(username=username, role=role, finess=finess)
    decision.commit([_add_change(deps, call, decision, membership)], reason=f"{username} as {role.value}")
    return InvitedMember(username, role, finess, email=command.email)


def _add_change(deps: AdminDeps, call: Call, decision: _Decision, membership: Membership) -> Change:
    """A new membership: the platform's is a pharmacy's first admin (stored only while it has none)."""
    if decision.by_platform:
        return deps.memberships.add_first_admin_change(membership, created_by=call.caller.username)
    return deps.memberships.add_change(membership, created_by=call.caller.username)


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
    deps: AdminDeps, call: Call, decision: _Decision, national_id: str, role: Role
) -> InvitedMember:
    """A membership is (professional, pharmacy), vouched for by the directory: invited only where
    it lists them as a pharmacist. A membership stored elsewhere, at a pharmacy the directory does not
    list them at (a squat, or a pharmacy they left), never blocks this one: it moves here, and both
    pharmacies' chains say so. One the directory also vouches for stays (a professional is a member
    of one pharmacy at a time; docs/security.md, "Who may invite whom")."""
    finess = decision.finess
    username = psc_username(national_id)
    if not _lists_here(deps, national_id, finess):
        raise decision.refuse(
            Forbidden(
                "The national directory does not list this professional as a pharmacist at this pharmacy."
            )
        )
    membership = Membership(username=username, role=role, finess=finess, national_id=national_id)
    result = InvitedMember(username, role, finess, national_id=national_id)
    reason = f"{username} as {role.value} (Pro Santé Connect)"
    current = deps.memberships.get(username)
    if current is None or current.finess is None:
        decision.commit([_add_change(deps, call, decision, membership)], reason=reason)
        return result
    if current.finess == finess:
        raise decision.refuse(Conflict("This professional is already a member of this pharmacy."))
    if _lists_here(deps, national_id, current.finess):
        raise decision.refuse(
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
        created_by=call.caller.username,
        first_admin=decision.by_platform,
        leaves_no_admin=leaves_no_admin,
    )
    moved = f"{reason}, moved from {current.finess}: the national directory does not list them there"
    decision.commit([change], reason=moved)
    left = f"{username} moved to {finess}: the national directory does not list them here"
    if leaves_no_admin:
        left += (
            "; they were its last pharmacy_admin: the platform may invite the next, one the "
            "directory lists here"
        )
    # the pharmacy they leave sees it on its own chain
    decision.audit.record("member_moved", finess=current.finess, reason=left)
    return result


def set_pharmacy_settings(deps: AdminDeps, call: Call, command: ChangePharmacySettings) -> PharmacySettings:
    """`{"psc_required": true|false}`: whether its members, admins included, must log in with Pro
    Santé Connect; turned on only once the pharmacy has a pharmacy_admin who does. The platform may
    turn it on, never off: lifting it re-admits the pharmacy's Cognito members, whose passwords and
    MFA an operator of the user pool can reset, so only the pharmacy's own admins lift it.
    `{"opening_hours": {...} | null}`: when its staff work, which the journal's automatic review
    watches (domain/opening_hours.py); only its own admins declare them (the platform could else
    silence that alert). Either or both, in one write. The platform's decisions are on its chain too."""
    decision = _managed_pharmacy(deps, call, "set_pharmacy_settings", command.finess)
    finess, required = decision.finess, command.psc_required
    if required is not None:
        _check_psc_required(deps, decision, required)
    if command.opening_hours_given and decision.by_platform:
        raise decision.refuse(Forbidden("Only the pharmacy's own admins declare its opening hours."))
    by = call.caller.username
    if command.opening_hours_given:
        hours = command.opening_hours
        change = deps.pharmacies.set_opening_hours_change(finess, hours, changed_by=by, psc_required=required)
    else:
        change = deps.pharmacies.set_psc_required_change(finess, bool(required), changed_by=by)
    reasons = [f"psc_required={required}"] if required is not None else []
    if command.opening_hours_given:
        reasons.append("opening_hours=" + ("declared" if command.opening_hours else "none"))
    decision.journal([change], reason=" ".join(reasons))
    entry = deps.pharmacies.entry(finess)
    if entry is None:  # gone since the write
        raise NotFound("No such pharmacy.")
    return PharmacySettings(finess=finess, psc_required=entry.psc_required, opening_hours=entry.opening_hours)


def _check_psc_required(deps: AdminDeps, decision: _Decision, required: bool) -> None:
    if not required and decision.by_platform:
        raise decision.refuse(Forbidden("Only the pharmacy's own admins stop requiring Pro Santé Connect."))
    if required and not deps.memberships.has_psc_admin(decision.finess):
        # it binds every member, admins included: without a PSC admin nobody could manage the pharmacy
        raise decision.refuse(
            Conflict(
                "Requiring Pro Santé Connect binds admins too: first invite a pharmacy_admin by national "
                "identifier, who then logs in with Pro Santé Connect."
            )
        )


def revoke_member(deps: AdminDeps, call: Call, command: RevokeMember) -> None:
    """Only the pharmacy's own admins revoke, never themselves, so it always keeps one admin."""
    decision = _managed_pharmacy(deps, call, "revoke_member", command.finess)
    if decision.by_platform:
        raise decision.refuse(Forbidden("A pharmacy's admins manage its members."))
    if command.username.lower() == call.caller.username.lower():
        raise decision.refuse(Conflict("You cannot revoke yourself."))
    membership = deps.memberships.get(command.username)
    if membership is None or membership.finess != decision.finess:
        raise NotFound("No such member of this pharmacy.")
    change = deps.memberships.revoke_change(membership, by=call.caller.username)
    # the removal and its event in one transaction: effective on the member's next request
    decision.commit([change], reason=membership.username)
    if membership.national_id is None:  # a PSC member has no Cognito user (and no refresh token)
        deps.users.sign_out_everywhere(membership.username)  # and their refresh tokens die too
