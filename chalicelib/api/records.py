"""Routes of test records (contract §3)."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api import render
from chalicelib.api.context import call, json_body
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import CreateRecord, SetResult, canonical_json
from chalicelib.domain.serialization import record_summary, record_to_json
from chalicelib.payloads import parse_list_query, parse_result_update, parse_submission, parse_uuid
from chalicelib.services import records

blueprint = ApiBlueprint(__name__)


def _request() -> Any:
    return blueprint.current_request


@blueprint.route("/v1/tests", methods=["POST"])
def create_test() -> Response:
    request = _request()
    container = get_container()
    body, key = json_body(request), request.headers.get("idempotency-key")
    command = CreateRecord(
        submission=parse_submission(
            body, now=container.clock.now(), max_age_days=container.settings.retention_hard_cap_days
        ),
        idempotency_key=parse_uuid(key, "Idempotency-Key") if key is not None else None,
        body=canonical_json(body),
    )
    record, _created = records.create_record(container.records, call(request), command)
    return Response(
        body=record_to_json(record), status_code=201, headers={"Location": f"/v1/tests/{record.id}"}
    )


@blueprint.route("/v1/tests", methods=["GET"])
def list_tests() -> dict[str, Any]:
    request = _request()
    deps, this = get_container().records, call(request)
    query = parse_list_query(request.query_params, today=records.pharmacy_today(deps, this.caller))
    page = records.list_records(deps, this, query)
    return {"items": [record_summary(r) for r in page.items], "next_cursor": page.next_cursor}


@blueprint.route("/v1/tests/{record_id}", methods=["GET"])
def read_test(record_id: str) -> dict[str, Any]:
    request = _request()
    return record_to_json(records.read_record(get_container().records, call(request), record_id))


@blueprint.route("/v1/tests/{record_id}/result", methods=["PUT"])
def set_test_result(record_id: str) -> dict[str, Any]:
    request = _request()
    command = SetResult(record_id, parse_result_update(json_body(request)))
    record = records.set_result(get_container().records, call(request), command)
    return record_to_json(record)


@blueprint.route("/v1/tests/{record_id}", methods=["DELETE"])
def cancel_test(record_id: str) -> Response:
    request = _request()
    records.cancel_record(get_container().records, call(request), record_id)
    return Response(body="", status_code=204)


@blueprint.route("/v1/tests/{record_id}/withdrawal", methods=["POST"])
def withdraw_test(record_id: str) -> dict[str, Any]:
    request = _request()
    return record_to_json(records.withdraw_record(get_container().records, call(request), record_id))


@blueprint.route("/v1/tests/{record_id}/delivery", methods=["GET"])
def read_test_delivery(record_id: str) -> dict[str, Any]:
    request = _request()
    return render.delivery(records.read_delivery(get_container().records, call(request), record_id))
