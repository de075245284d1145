"""A pharmacy's statistics (pharmacy_admin), from record skeletons only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.payloads import parse_stats_query

if TYPE_CHECKING:
    from chalicelib.services import records, stats
else:
    records, stats = lazy("chalicelib.services.records"), lazy("chalicelib.services.stats")

blueprint = ApiBlueprint(__name__)


@blueprint.route(
    Route(
        "GET",
        "/v1/stats",
        "readStats",
        "The pharmacy's tests per day, positivity and delivery states, from record skeletons only "
        "(pharmacy_admin).",
        Reply(200, "The statistics.", payloads.STATS),
        (*PROTECTED, "400"),
        query=payloads.STATS_QUERY,
    )
)
def read_stats() -> dict[str, Any]:
    request = blueprint.current_request
    container, this = get_container(), call(request)
    zone = records.pharmacy_zone(container.records, this.caller)
    query = admitted_then_parsed(
        lambda: stats.admit(container.stats, this),
        lambda: parse_stats_query(request.query_params, zone=zone),
    )
    return stats.read_stats(container.stats, this, query)
