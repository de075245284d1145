"""Routes of test records (contract §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call, json_body
from chalicelib.api.lazy import lazy
from chalicelib.api.openapi import SUBMISSION_EXAMPLE
from chalicelib.api.routing import PROTECTED, WITH_BODY, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import CreateBatch, CreateRecord, SetResult, canonical_json
from chalicelib.payloads import (
    parse_batch,
    parse_list_query,
    parse_result_update,
    parse_submission,
    parse_uuid,
)
from chalicelib.schema import Schema

if TYPE_CHECKING:
    from chalicelib.services import batches, records
else:
    batches, records = lazy("chalicelib.services.batches"), lazy("chalicelib.services.records")

blueprint = ApiBlueprint(__name__)
READ_PROBLEMS = (*PROTECTED, "404")


def _by_record_id(*names: tuple[str, str]) -> dict[str, Schema]:
    return {
        name: {"operationId": operation, "parameters": {"record_id": "$response.body#/id"}}
        for name, operation in names
    }


_RECORD_LINKS = _by_record_id(
    ("ReadTest", "readTest"),
    ("SetResult", "setTestResult"),
    ("ReadDelivery", "readTestDelivery"),
    ("CancelTest", "cancelTest"),
    ("WithdrawTest", "withdrawTest"),
)
_IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": dict(payloads.UUID_PARAM),
    "description": "A retry with the same key and body returns the first response and creates nothing; "
    "the same key with another body is 409.",
}


def _request() -> Any:
    return blueprint.current_request


@blueprint.route(
    Route(
        "POST",
        "/v1/tests",
        "createTest",
        "Record a test (pharmacist).",
        Reply(
            201,
            "Created (or the replay of an idempotent create).",
            payloads.RECORD,
            location=lambda record: f"/v1/tests/{record.id}",
            links=_RECORD_LINKS,
        ),
        (*PROTECTED, *WITH_BODY, "409"),
        body=payloads.SUBMISSION,
        example=SUBMISSION_EXAMPLE,
        headers=(_IDEMPOTENCY_KEY,),
    )
)
def create_test() -> Any:
    request = _request()
    container, this = get_container(), call(request)

    def parse() -> CreateRecord:
        body, key = json_body(request), request.headers.get("idempotency-key")
        return CreateRecord(
            submission=parse_submission(
                body, now=container.clock.now(), max_age_days=container.settings.offline_window_days
            ),
            idempotency_key=parse_uuid(key, "Idempotency-Key") if key is not None else None,
            body=canonical_json(body),
        )

    command = admitted_then_parsed(lambda: records.admit(container.records, this, "create"), parse)
    record, _created = records.create_record(container.records, this, command)
    return record


@blueprint.route(
    Route(
        "POST",
        "/v1/test-batches",
        "createTestBatch",
        f"Record up to {payloads.BATCH_MAX_ITEMS} tests at once (pharmacist), each with its own key.",
        Reply(200, "Each item's outcome, in order: created, invalid or conflict.", payloads.BATCH_RESULT),
        (*PROTECTED, *WITH_BODY),
        body=payloads.BATCH,
        example={"items": [{"key": "3f1c2a4e-8d5b-4c7a-9e21-6b0d4f8a2c19", **SUBMISSION_EXAMPLE}]},
        description="Each item is created with its journal event or not at all; the batch is not "
        "all-or-nothing. A replay of the batch, whole or in part, answers the same outcomes and "
        "creates nothing twice (an item's key works as the Idempotency-Key of `POST /v1/tests`).",
    )
)
def create_test_batch() -> Any:
    request = _request()
    container, this = get_container(), call(request)
    items = admitted_then_parsed(
        lambda: records.admit(container.records, this, "create"),
        lambda: parse_batch(
            json_body(request),
            now=container.clock.now(),
            max_age_days=container.settings.offline_window_days,
        ),
    )
    return batches.create_batch(container.records, this, CreateBatch(items))


@blueprint.route(
    Route(
        "GET",
        "/v1/tests",
        "listTests",
        "List one day's records of the caller's pharmacy (summaries).",
        Reply(200, "A page of summaries.", payloads.RECORD_PAGE),
        (*PROTECTED, "400"),
        query=payloads.LIST_QUERY,
    )
)
def list_tests() -> Any:
    request = _request()
    deps, this = get_container().records, call(request)
    query = admitted_then_parsed(
        lambda: records.admit(deps, this, "list"),
        lambda: parse_list_query(request.query_params, today=records.pharmacy_today(deps, this.caller)),
    )
    return records.list_records(deps, this, query)


@blueprint.route(
    Route(
        "GET",
        "/v1/tests/{record_id}",
        "readTest",
        "Read a record with its patient.",
        Reply(200, "The record.", payloads.RECORD),
        READ_PROBLEMS,
    )
)
def read_test(record_id: str) -> Any:
    request = _request()
    return records.read_record(get_container().records, call(request), record_id)


@blueprint.route(
    Route(
        "PUT",
        "/v1/tests/{record_id}/result",
        "setTestResult",
        "Set (or correct) the result.",
        Reply(
            200,
            "The record.",
            payloads.RECORD,
            links=_by_record_id(("ReadDelivery", "readTestDelivery")),
        ),
        (*PROTECTED, *WITH_BODY, "404", "409"),
        body=payloads.RESULT_UPDATE,
        example={"result": "positive"},
    )
)
def set_test_result(record_id: str) -> Any:
    request = _request()
    deps, this = get_container().records, call(request)
    command = admitted_then_parsed(
        lambda: records.admit(deps, this, "set_result"),
        lambda: SetResult(record_id, parse_result_update(json_body(request))),
    )
    return records.set_result(deps, this, command)


@blueprint.route(
    Route(
        "DELETE",
        "/v1/tests/{record_id}",
        "cancelTest",
        "Cancel a test SI-DEP never saw (else 409: withdraw it).",
        Reply(204, "Cancelled."),
        (*PROTECTED, "404", "409"),
    )
)
def cancel_test(record_id: str) -> None:
    request = _request()
    records.cancel_record(get_container().records, call(request), record_id)


@blueprint.route(
    Route(
        "POST",
        "/v1/tests/{record_id}/withdrawal",
        "withdrawTest",
        "Ask SI-DEP to withdraw a result it acknowledged (beyond the contract).",
        Reply(200, "The withdrawal is scheduled.", payloads.RECORD),
        (*PROTECTED, "404", "409", "413", "415"),
        description="Send `Content-Type: application/json`; the body, if any, is ignored.",
    )
)
def withdraw_test(record_id: str) -> Any:
    request = _request()
    return records.withdraw_record(get_container().records, call(request), record_id)


@blueprint.route(
    Route(
        "GET",
        "/v1/tests/{record_id}/delivery",
        "readTestDelivery",
        "The record's SI-DEP delivery state and history.",
        Reply(200, "The delivery state.", payloads.DELIVERY),
        READ_PROBLEMS,
    )
)
def read_test_delivery(record_id: str) -> Any:
    request = _request()
    return records.read_delivery(get_container().records, call(request), record_id)
