"""Onboarding pharmacies and managing their members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.validation import parse_invitation, parse_pharmacy, validate_finess
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
    finess = _managed_pharmacy(deps, caller, meta, "invite_member", finess)
    email, role = parse_invitation(body)
    username = deps.users.invite(email)
    deps.memberships.add(Membership(username=username, role=role, finess=finess), created_by=caller.username)
    audit(deps.journal, caller, meta, "invite_member", finess=finess, reason=f"{username} as {role.value}")
    return {"username": username, "email": email, "role": role.value, "finess": finess}


def revoke_member(deps: AdminDeps, caller: Principal, meta: RequestMeta, finess: str, username: str) -> None:
    finess = _managed_pharmacy(deps, caller, meta, "revoke_member", finess)
    membership = deps.memberships.get(username)
    if membership is None or membership.finess != finess:
        raise NotFound("No such member of this pharmacy.")
    deps.memberships.remove(membership.username)  # effective on the member's next request
    deps.users.sign_out_everywhere(membership.username)  # and their refresh tokens die too
    audit(deps.journal, caller, meta, "revoke_member", finess=finess, reason=membership.username)
