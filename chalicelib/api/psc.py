"""Pro Santé Connect login routes (no bearer token: this is how a PSC pharmacist gets one)."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api import render
from chalicelib.api.context import json_body, meta
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import StartLogin
from chalicelib.payloads import parse_login_request
from chalicelib.services import psc_login

blueprint = ApiBlueprint(__name__)

LOGINS = "/v1/psc/logins"
LOGIN_TOKEN = "/v1/psc/logins/{login_id}/token"
JWKS = "/v1/psc/jwks.json"
# Routes the middleware lets through without a bearer token (it still checks their bodies).
ANONYMOUS_ROUTES = frozenset({LOGINS, LOGIN_TOKEN, JWKS})


@blueprint.route(LOGINS, methods=["POST"])
def start_login() -> Response:
    request: Any = blueprint.current_request
    command = StartLogin(parse_login_request(json_body(request)))
    started = psc_login.start_login(get_container().psc, meta(request), command)
    return Response(
        body=render.login_started(started),
        status_code=201,
        headers={"Location": f"{LOGINS}/{started.login_id}"},
    )


@blueprint.route(LOGIN_TOKEN, methods=["POST"])
def poll_login(login_id: str) -> Response:
    request: Any = blueprint.current_request
    granted = psc_login.poll_login(get_container().psc, meta(request), login_id)
    return Response(body=render.session(granted), status_code=200)


@blueprint.route(JWKS, methods=["GET"])
def jwks() -> Response:
    return Response(
        body=get_container().session_keys.jwks(),
        status_code=200,
        headers={"Content-Type": "application/json"},
    )
