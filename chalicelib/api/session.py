"""The caller's own session: POST /v1/session/logout."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.context import caller, meta
from chalicelib.api.problems import api_view
from chalicelib.bootstrap import get_container
from chalicelib.services import auth

blueprint = Blueprint(__name__)


@blueprint.route("/v1/session/logout", methods=["POST"])
@api_view
def logout() -> Response:
    request: Any = blueprint.current_request
    auth.logout(get_container().session, caller(request), meta(request))
    return Response(body="", status_code=204)
