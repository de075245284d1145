"""GET /v1/health: the one route without authentication."""

from __future__ import annotations

from chalicelib.api.routing import ApiBlueprint

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/health", methods=["GET"])
def health() -> dict[str, str]:
    return {"status": "ok"}
