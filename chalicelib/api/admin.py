"""Onboarding routes: pharmacies and their members."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api import render
from chalicelib.api.context import caller, json_body, meta
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.services import admin

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/admin/pharmacies", methods=["POST"])
def onboard_pharmacy() -> Response:
    request: Any = blueprint.current_request
    onboarded = admin.onboard_pharmacy(
        get_container().admin, caller(request), meta(request), json_body(request)
    )
    return Response(
        body=render.pharmacy(onboarded),
        status_code=201,
        headers={"Location": f"/v1/admin/pharmacies/{onboarded.finess}"},
    )


@blueprint.route("/v1/admin/pharmacies/{finess}/members", methods=["POST"])
def invite_member(finess: str) -> Response:
    request: Any = blueprint.current_request
    invited = admin.invite_member(
        get_container().admin, caller(request), meta(request), finess, json_body(request)
    )
    return Response(body=render.member(invited), status_code=201)


@blueprint.route("/v1/admin/pharmacies/{finess}/members/{username}", methods=["DELETE"])
def revoke_member(finess: str, username: str) -> Response:
    request: Any = blueprint.current_request
    admin.revoke_member(get_container().admin, caller(request), meta(request), finess, username)
    return Response(body="", status_code=204)


@blueprint.route("/v1/admin/pharmacies/{finess}/settings", methods=["PUT"])
def set_pharmacy_settings(finess: str) -> Response:
    request: Any = blueprint.current_request
    settings = admin.set_pharmacy_settings(
        get_container().admin, caller(request), meta(request), finess, json_body(request)
    )
    return Response(body=render.pharmacy_settings(settings), status_code=200)
