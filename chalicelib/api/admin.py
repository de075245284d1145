"""Onboarding routes: pharmacies and their members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call, json_body
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, WITH_BODY, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import (
    ChangePharmacySettings,
    InviteMember,
    ListPharmacies,
    OnboardPharmacy,
    ReadMember,
    ReadPharmacySettings,
    ReadTeam,
    ResendInvitation,
    RevokeMember,
)
from chalicelib.payloads import parse_invitation, parse_pharmacy, parse_pharmacy_settings

if TYPE_CHECKING:
    from chalicelib.services import admin, team
else:
    admin, team = lazy("chalicelib.services.admin"), lazy("chalicelib.services.team")

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
        lambda: ChangePharmacySettings(finess, *parse_pharmacy_settings(json_body(request))),
    )
    return admin.set_pharmacy_settings(deps, this, command)


@blueprint.route(
    Route(
        "GET",
        "/v1/admin/pharmacies",
        "listPharmacies",
        "List the onboarded pharmacies (platform_admin).",
        Reply(
            200,
            "FINESS, name, time zone, onboarding time and member count; no health data.",
            payloads.PHARMACY_LIST,
        ),
        PROTECTED,
        description="Journaled on the platform's chain.",
    )
)
def list_pharmacies() -> Any:
    request: Any = blueprint.current_request
    return team.list_pharmacies(get_container().admin, call(request), ListPharmacies())


@blueprint.route(
    Route(
        "GET",
        "/v1/admin/pharmacies/{finess}/members",
        "listMembers",
        "List the pharmacy's members (that pharmacy's pharmacy_admin).",
        Reply(200, "Its members, by username.", payloads.TEAM),
        (*PROTECTED, "404"),
        description="Each member's role, login kind, invitation (when and by whom; pending or "
        "accepted), and what the admin entered: an e-mail or a national identifier. Journaled on the "
        "pharmacy's chain. Another pharmacy is a `404`; the platform_admin is a `403`.",
    )
)
def list_members(finess: str) -> Any:
    request: Any = blueprint.current_request
    return team.list_members(get_container().admin, call(request), ReadTeam(finess))


@blueprint.route(
    Route(
        "GET",
        "/v1/admin/pharmacies/{finess}/members/{username}",
        "getMember",
        "Read one member of the pharmacy (that pharmacy's pharmacy_admin).",
        Reply(200, "The member.", payloads.TEAM_MEMBER),
        (*PROTECTED, "404"),
        description="Journaled on the pharmacy's chain.",
    )
)
def get_member(finess: str, username: str) -> Any:
    request: Any = blueprint.current_request
    return team.read_member(get_container().admin, call(request), ReadMember(finess, username))


@blueprint.route(
    Route(
        "POST",
        "/v1/admin/pharmacies/{finess}/members/{username}/invitation",
        "resendInvitation",
        "Re-send a pending invitation (that pharmacy's pharmacy_admin).",
        Reply(200, "Re-sent: Cognito e-mails a new temporary password.", payloads.TEAM_MEMBER),
        (*PROTECTED, "404", "409"),
        description="Only a Cognito member who has not yet set a password; a Pro Santé Connect member "
        "or an accepted invitation is a `409` that says which.",
    )
)
def resend_invitation(finess: str, username: str) -> Any:
    request: Any = blueprint.current_request
    return team.resend_invitation(get_container().admin, call(request), ResendInvitation(finess, username))


@blueprint.route(
    Route(
        "GET",
        "/v1/admin/pharmacies/{finess}/settings",
        "getPharmacySettings",
        "Read the pharmacy's settings and time zone (platform_admin, or that pharmacy's pharmacy_admin).",
        Reply(200, "The pharmacy's settings.", payloads.PHARMACY_OVERVIEW),
        (*PROTECTED, "404"),
        description="Journaled on the pharmacy's chain (and the platform's, for the platform_admin).",
    )
)
def get_pharmacy_settings(finess: str) -> Any:
    request: Any = blueprint.current_request
    return team.read_pharmacy_settings(get_container().admin, call(request), ReadPharmacySettings(finess))
