"""Onboarding routes: pharmacies and their members."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api import render
from chalicelib.api.context import call, json_body
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import ChangePharmacySettings, InviteMember, OnboardPharmacy, RevokeMember
from chalicelib.payloads import parse_invitation, parse_pharmacy, parse_pharmacy_settings
from chalicelib.services import admin

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/admin/pharmacies", methods=["POST"])
def onboard_pharmacy() -> Response:
    request: Any = blueprint.current_request
    command = OnboardPharmacy(*parse_pharmacy(json_body(request)))
    onboarded = admin.onboard_pharmacy(get_container().admin, call(request), command)
    return Response(
        body=render.pharmacy(onboarded),
        status_code=201,
        headers={"Location": f"/v1/admin/pharmacies/{onboarded.finess}"},
    )


@blueprint.route("/v1/admin/pharmacies/{finess}/members", methods=["POST"])
def invite_member(finess: str) -> Response:
    request: Any = blueprint.current_request
    invitation = parse_invitation(json_body(request))
    command = InviteMember(
        finess, invitation.role, email=invitation.email, national_id=invitation.national_id
    )
    invited = admin.invite_member(get_container().admin, call(request), command)
    return Response(body=render.member(invited), status_code=201)


@blueprint.route("/v1/admin/pharmacies/{finess}/members/{username}", methods=["DELETE"])
def revoke_member(finess: str, username: str) -> Response:
    request: Any = blueprint.current_request
    admin.revoke_member(get_container().admin, call(request), RevokeMember(finess, username))
    return Response(body="", status_code=204)


@blueprint.route("/v1/admin/pharmacies/{finess}/settings", methods=["PUT"])
def set_pharmacy_settings(finess: str) -> Response:
    request: Any = blueprint.current_request
    command = ChangePharmacySettings(finess, parse_pharmacy_settings(json_body(request)))
    settings = admin.set_pharmacy_settings(get_container().admin, call(request), command)
    return Response(body=render.pharmacy_settings(settings), status_code=200)
