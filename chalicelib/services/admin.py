"""Onboarding pharmacies and managing their members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.psc import psc_username
from chalicelib.domain.validation import (
    parse_invitation,
    parse_pharmacy,
    parse_pharmacy_settings,
    validate_finess,
)
from chalicelib.services.access import audit, require_role
from chalicelib.services.ports import (
    AuditJournal,
    Membership,
    MembershipRepository,
    PharmacyRepository,
    RequestMeta,
    UserDirectory,
)

PLATFORM_ONLY = frozenset({Role.PLATFORM_ADMIN})
MEMBER_MANAGERS = frozenset({Role.PLATFORM_ADMIN, Role.PHARMACY_ADMIN})


@dataclass(frozen=True)
class AdminDeps:
    pharmacies: PharmacyRepository
    memberships: MembershipRepository
    users: UserDirectory
    journal: AuditJournal


def onboard_pharmacy(deps: AdminDeps, caller: Principal, meta: RequestMeta, body: Any) -> dict[str, str]:
    require_role(deps.journal, caller, meta, "onboard_pharmacy", PLATFORM_ONLY)
    finess, name = parse_pharmacy(body)
    deps.pharmacies.add(finess, name, created_by=caller.username)
    audit(deps.journal, caller, meta, "onboard_pharmacy", finess=finess)
    return {"finess": finess, "name": name}


def _managed_pharmacy(deps: AdminDeps, caller: Principal, meta: RequestMeta, action: str, finess: str) -> str:
    """A platform admin manages any pharmacy, a pharmacy admin only its own (another's is a 404)."""
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
) -> dict[str, str | None]:
    """By e-mail (a Cognito invitation) or by national identifier / RPPS (a Pro Santé Connect member:
    no Cognito user; PSC and the national directory vouch for them at each login)."""
    finess = _managed_pharmacy(deps, caller, meta, "invite_member", finess)
    invitation = parse_invitation(body)
    if invitation.national_id is not None:
        username = psc_username(invitation.national_id)
        existing = deps.memberships.get(username)
        if existing is not None:
            raise Conflict("This professional is already a member of a pharmacy.")
        deps.memberships.add(
            Membership(
                username=username, role=invitation.role, finess=finess, national_id=invitation.national_id
            ),
            created_by=caller.username,
        )
        audit(
            deps.journal,
            caller,
            meta,
            "invite_member",
            finess=finess,
            reason=f"{username} as {invitation.role.value} (Pro Santé Connect)",
        )
        return {
            "username": username,
            "national_id": invitation.national_id,
            "role": invitation.role.value,
            "finess": finess,
        }
    assert invitation.email is not None  # parse_invitation gives exactly one of them
    username = deps.users.invite(invitation.email)
    deps.memberships.add(
        Membership(username=username, role=invitation.role, finess=finess), created_by=caller.username
    )
    audit(
        deps.journal,
        caller,
        meta,
        "invite_member",
        finess=finess,
        reason=f"{username} as {invitation.role.value}",
    )
    return {"username": username, "email": invitation.email, "role": invitation.role.value, "finess": finess}


def set_pharmacy_settings(
    deps: AdminDeps, caller: Principal, meta: RequestMeta, finess: str, body: Any
) -> dict[str, Any]:
    """`{"psc_required": true|false}`: whether its pharmacists must log in with Pro Santé Connect."""
    finess = _managed_pharmacy(deps, caller, meta, "set_pharmacy_settings", finess)
    required = parse_pharmacy_settings(body)
    deps.pharmacies.set_psc_required(finess, required, changed_by=caller.username)
    audit(
        deps.journal, caller, meta, "set_pharmacy_settings", finess=finess, reason=f"psc_required={required}"
    )
    return {"finess": finess, "psc_required": required}


def revoke_member(deps: AdminDeps, caller: Principal, meta: RequestMeta, finess: str, username: str) -> None:
    finess = _managed_pharmacy(deps, caller, meta, "revoke_member", finess)
    membership = deps.memberships.get(username)
    if membership is None or membership.finess != finess:
        raise NotFound("No such member of this pharmacy.")
    deps.memberships.remove(membership.username)  # effective on the member's next request
    if membership.national_id is None:  # a PSC member has no Cognito user (and no refresh token)
        deps.users.sign_out_everywhere(membership.username)  # and their refresh tokens die too
    audit(deps.journal, caller, meta, "revoke_member", finess=finess, reason=membership.username)
