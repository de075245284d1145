"""GET /v1/audit: a pharmacy's audit journal, and GET /v1/audit/public-key: the key that verifies its
checkpoints, for its pharmacy_admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.payloads import parse_audit_query

if TYPE_CHECKING:
    from chalicelib.services import journal, records
else:
    journal, records = lazy("chalicelib.services.journal"), lazy("chalicelib.services.records")

blueprint = ApiBlueprint(__name__)


@blueprint.route(
    Route(
        "GET",
        "/v1/audit",
        "readAudit",
        "The caller's pharmacy's audit journal (pharmacy_admin).",
        Reply(200, "A page of events.", payloads.AUDIT_PAGE),
        (*PROTECTED, "400"),
        query=payloads.AUDIT_QUERY,
    )
)
def audit_journal() -> dict[str, Any]:
    request: Any = blueprint.current_request
    container = get_container()
    this = call(request)
    zone = records.pharmacy_zone(container.records, this.caller)
    query = admitted_then_parsed(
        lambda: journal.admit_reader(container.journal, this),
        lambda: parse_audit_query(request.query_params, now=container.clock.now(), zone=zone),
    )
    items, next_cursor = journal.read_audit(container.journal, this, query)
    return {"items": items, "next_cursor": next_cursor}


@blueprint.route(
    Route(
        "GET",
        "/v1/audit/public-key",
        "readAuditPublicKey",
        "The public key that verifies the journal's signed checkpoints (pharmacy_admin).",
        Reply(200, "The audit public key.", payloads.AUDIT_PUBLIC_KEY),
        PROTECTED,
    )
)
def audit_public_key() -> Any:
    request: Any = blueprint.current_request
    return journal.read_public_key(get_container().journal, call(request))
