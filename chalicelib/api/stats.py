"""A pharmacy's statistics (pharmacy_admin), from record skeletons only."""

from __future__ import annotations

from typing import Any

from chalicelib.api.context import call
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.payloads import parse_stats_query
from chalicelib.services import stats

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/stats", methods=["GET"])
def read_stats() -> dict[str, Any]:
    request = blueprint.current_request
    query = parse_stats_query(request.query_params)
    return stats.read_stats(get_container().stats, call(request), query)
