"""The caller's own session: POST /v1/session/logout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.context import call
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container

if TYPE_CHECKING:
    from chalicelib.services import auth
else:
    auth = lazy("chalicelib.services.auth")

blueprint = ApiBlueprint(__name__)


@blueprint.route(
    Route(
        "POST",
        "/v1/session/logout",
        "logout",
        "End the caller's sessions: the same access token is 401 from the next request.",
        Reply(204, "Logged out."),
        (*PROTECTED, "413", "415"),
        description="Cognito revokes the caller's refresh tokens; access tokens issued until now are "
        "refused. No body.",
    )
)
def logout() -> None:
    request: Any = blueprint.current_request
    auth.logout(get_container().session, call(request))
