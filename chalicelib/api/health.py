"""GET /v1/health: the one route without authentication."""

from __future__ import annotations

from chalicelib import payloads
from chalicelib.api.routing import Access, ApiBlueprint, Reply, Route

blueprint = ApiBlueprint(__name__)


@blueprint.route(
    Route(
        "GET",
        "/v1/health",
        "health",
        "Liveness; no authentication.",
        Reply(200, "The service answers.", payloads.HEALTH),
        access=Access.PUBLIC,
    )
)
def health() -> dict[str, str]:
    return {"status": "ok"}
