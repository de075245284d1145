"""Onboarding routes: pharmacies and their members."""

from __future__ import annotations

from typing import Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call, json_body
from chalicelib.api.routing import PROTECTED, WITH_BODY, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import ChangePharmacySettings, InviteMember, OnboardPharmacy, RevokeMember
from chalicelib.payloads import parse_invitation, parse_pharmacy, parse_pharmacy_settings
from chalicelib.services import admin

blueprint = ApiBlueprint(__name__)


@blueprint.route(
    Route(
        "POST",
        "/v1/admin/pharmacies",
        "onboardPharmacy",
        "Onboard a pharmacy (platform_admin).",
        Reply(
            201,
            "Onboarded.",
            payloads.PHARMACY,
            location=lambda onboarded: f"/v1/admin/pharmacies/{onboarded.finess}",
        ),
        (*PROTECTED, *WITH_BODY, "409"),
        body=payloads.PHARMACY_INPUT,
    )
)
def onboard_pharmacy() -> Any:
    request: Any = blueprint.current_request
    deps, this = get_container().admin, call(request)
    command = admitted_then_parsed(
        lambda: admin.admit_onboarding(deps, this),
        lambda: OnboardPharmacy(*parse_pharmacy(json_body(request))),
    )
    return admin.onboard_pharmacy(deps, this, command)


@blueprint.route(
    Route(
        "POST",
        "/v1/admin/pharmacies/{finess}/members",
        "inviteMember",
        "Invite a member (that pharmacy's pharmacy_admin; the platform only the first).",
        Reply(
            201, "Invited; Cognito sends the invitation (by e-mail) or PSC vouches at login.", payloads.MEMBER
        ),
        (*PROTECTED, *WITH_BODY, "404", "409"),
        body=payloads.INVITATION,
        description="The platform_admin invites a pharmacy's first pharmacy_admin, while it has none (else "
        "`409`), by national identifier only: a pharmacist the national directory lists at that pharmacy, "
        "who logs in with Pro Santé Connect; no one else, no e-mail (`403`). The pharmacy's admins invite "
        "the rest; a pharmacy that requires Pro Santé Connect by national identifier only (`409`). A "
        "professional is invited only where the national directory lists them as a pharmacist (`403`; "
        "`503` if it cannot answer); a membership elsewhere, where it does not list them, moves here; one "
        "it also vouches for stays (`409`).",
    )
)
def invite_member(finess: str) -> Any:
    request: Any = blueprint.current_request
    deps, this = get_container().admin, call(request)
    invitation = admitted_then_parsed(
        lambda: admin.admit_management(deps, this, "invite_member", finess),
        lambda: parse_invitation(json_body(request)),
    )
    command = InviteMember(
        finess, invitation.role, email=invitation.email, national_id=invitation.national_id
    )
    return admin.invite_member(deps, this, command)


@blueprint.route(
    Route(
        "DELETE",
        "/v1/admin/pharmacies/{finess}/members/{username}",
        "revokeMember",
        "Revoke a member, effective on their next request (that pharmacy's admin).",
        Reply(204, "Revoked."),
        (*PROTECTED, "404", "409"),
        description="Not oneself; a pharmacy keeps one pharmacy_admin (`409`).",
    )
)
def revoke_member(finess: str, username: str) -> None:
    request: Any = blueprint.current_request
    admin.revoke_member(get_container().admin, call(request), RevokeMember(finess, username))


@blueprint.route(
    Route(
        "PUT",
        "/v1/admin/pharmacies/{finess}/settings",
        "setPharmacySettings",
        "Set whether the pharmacy's members, admins included, must log in with Pro Santé Connect "
        "(platform_admin, or that pharmacy's pharmacy_admin).",
        Reply(200, "The pharmacy's settings.", payloads.PHARMACY_SETTINGS_STATE),
        (*PROTECTED, *WITH_BODY, "404", "409"),
        body=payloads.PHARMACY_SETTINGS,
        example={"psc_required": True},
        description="Turned on only once the pharmacy has a pharmacy_admin who logs in with Pro Santé "
        "Connect (else `409`): from then on a Cognito member, admin or pharmacist, is refused.",
    )
)
def set_pharmacy_settings(finess: str) -> Any:
    request: Any = blueprint.current_request
    deps, this = get_container().admin, call(request)
    command = admitted_then_parsed(
        lambda: admin.admit_management(deps, this, "set_pharmacy_settings", finess),
        lambda: ChangePharmacySettings(finess, parse_pharmacy_settings(json_body(request))),
    )
    return admin.set_pharmacy_settings(deps, this, command)
