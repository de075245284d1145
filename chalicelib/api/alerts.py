"""The journal's automatic review's alerts, for the pharmacy's admins: list them, acknowledge one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import AcknowledgeAlert, ReadAlerts
from chalicelib.payloads import parse_alerts_query

if TYPE_CHECKING:
    from chalicelib.services import alerts
else:
    alerts = lazy("chalicelib.services.alerts")

blueprint = ApiBlueprint(__name__)


@blueprint.route(
    Route(
        "GET",
        "/v1/admin/pharmacies/{finess}/alerts",
        "listAlerts",
        "The pharmacy's alerts of the journal's automatic review (that pharmacy's pharmacy_admin).",
        Reply(200, "Its alerts, newest first.", payloads.ALERT_LIST),
        (*PROTECTED, "400", "404"),
        query=payloads.ALERTS_QUERY,
        description="By default those nobody acknowledged yet. Each names what the review found, "
        "who or what it is about and the records concerned, by identifier only. Journaled on the "
        "pharmacy's chain. Another pharmacy is a `404`; a pharmacist or the platform_admin a `403`.",
    )
)
def list_alerts(finess: str) -> Any:
    request: Any = blueprint.current_request
    deps, this = get_container().inbox, call(request)
    query = admitted_then_parsed(
        lambda: alerts.admit(deps, this, alerts.READ_ALERTS, finess),
        lambda: parse_alerts_query(request.query_params),
    )
    command = ReadAlerts(finess, query.include_acknowledged, query.limit)
    return alerts.list_alerts(deps, this, command)


@blueprint.route(
    Route(
        "POST",
        "/v1/admin/pharmacies/{finess}/alerts/{alert_id}/acknowledgement",
        "acknowledgeAlert",
        "Acknowledge one of the pharmacy's alerts (that pharmacy's pharmacy_admin).",
        Reply(200, "The alert, acknowledged.", payloads.ALERT),
        (*PROTECTED, "404"),
        description="Idempotent: the first acknowledgement (who, when) stays, and acknowledging again "
        "answers it. Journaled on the pharmacy's chain, in one transaction with the acknowledgement. "
        "Another pharmacy's alert, or an id that names none, is a `404`; an alert about the caller is "
        "another admin's to acknowledge (`403`).",
    )
)
def acknowledge_alert(finess: str, alert_id: str) -> Any:
    request: Any = blueprint.current_request
    command = AcknowledgeAlert(finess, alert_id)
    return alerts.acknowledge_alert(get_container().inbox, call(request), command)
