"""The caller's own session: POST /v1/session/logout."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.context import call
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.services import auth

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/session/logout", methods=["POST"])
def logout() -> Response:
    request: Any = blueprint.current_request
    auth.logout(get_container().session, call(request))
    return Response(body="", status_code=204)
