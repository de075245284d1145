"""GET /v1/audit: a pharmacy's audit journal, and GET /v1/audit/public-key: the key that verifies its
checkpoints, for its pharmacy_admin."""

from __future__ import annotations

from typing import Any

from chalicelib.api import render
from chalicelib.api.context import call
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.payloads import parse_audit_query
from chalicelib.services.journal import read_audit, read_public_key

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/audit", methods=["GET"])
def audit_journal() -> dict[str, Any]:
    request: Any = blueprint.current_request
    container = get_container()
    query = parse_audit_query(request.query_params, now=container.clock.now())
    items, next_cursor = read_audit(container.journal, call(request), query)
    return {"items": items, "next_cursor": next_cursor}


@blueprint.route("/v1/audit/public-key", methods=["GET"])
def audit_public_key() -> dict[str, Any]:
    request: Any = blueprint.current_request
    return render.public_key(read_public_key(get_container().journal, call(request)))
