"""A pharmacy's statistics (pharmacy_admin), from record skeletons only."""

from __future__ import annotations

from typing import Any

from chalicelib.api.context import caller, meta
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.services import stats

blueprint = ApiBlueprint(__name__)


@blueprint.route("/v1/stats", methods=["GET"])
def read_stats() -> dict[str, Any]:
    request = blueprint.current_request
    return stats.read_stats(get_container().stats, caller(request), meta(request), request.query_params)
