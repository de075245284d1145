"""A pharmacy's statistics (pharmacy_admin), from record skeletons only."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.context import caller, meta
from chalicelib.api.problems import api_view
from chalicelib.bootstrap import get_container
from chalicelib.services import stats

blueprint = Blueprint(__name__)


@blueprint.route("/v1/stats", methods=["GET"])
@api_view
def read_stats() -> dict[str, Any]:
    request = blueprint.current_request
    return stats.read_stats(get_container().stats, caller(request), meta(request), request.query_params)
