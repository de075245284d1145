"""The OpenAPI 3.1 description: valid, served, and in step with the app's routes."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.versions.shortcuts import get_spec_version

from chalicelib.api.openapi import SUBMISSION_EXAMPLE, document
from tests.conftest import World

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_the_document_is_a_valid_openapi_3_1_description() -> None:
    spec = document()
    validate(spec)
    assert str(get_spec_version(spec)).endswith("3.1")


def test_every_route_of_the_app_is_described_and_nothing_else() -> None:
    from app import app

    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    described = {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert described == routes


def test_every_protected_operation_declares_401_403_and_503() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or operation.get("security") == []:
                continue
            assert {"401", "403", "503"} <= set(operation["responses"]), f"{method} {path}"
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), f"{method} {path}"


def test_the_submission_example_is_accepted_by_the_server_rules() -> None:
    from datetime import datetime, timedelta

    from chalicelib.payloads import parse_submission

    sampled = datetime.fromisoformat(SUBMISSION_EXAMPLE["test"]["sampled_at"])
    parse_submission(SUBMISSION_EXAMPLE, now=sampled + timedelta(hours=1), max_age_days=90)


def test_the_document_is_served_without_a_token(world: World) -> None:
    response = world.client.http.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    served: dict[str, Any] = json.loads(response.body)
    assert served == document()


def _operations_by_id() -> dict[str, tuple[str, str]]:
    return {
        operation["operationId"]: (method, path)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _follow(world: World, link: dict[str, Any], response_body: dict[str, Any], body: Any = None) -> Any:
    """Call the operation a link names, its path parameters taken from the response as it says."""
    method, path = _operations_by_id()[link["operationId"]]
    for name, expression in link["parameters"].items():
        assert expression.startswith("$response.body#/"), expression
        path = path.replace("{" + name + "}", str(response_body[expression.removeprefix("$response.body#/")]))
    return world.call(method.upper(), path, "pharmacist-a", body)


def test_every_link_of_a_record_leads_to_that_record(world: World) -> None:
    # The fuzzer's stateful phase walks these links at random; this walks each of them, every time.
    from testkit.patients import screening_body

    operations = document()["paths"]
    created_links = operations["/v1/tests"]["post"]["responses"]["201"]["links"]
    result_links = operations["/v1/tests/{record_id}/result"]["put"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in created_links.values()} >= {
        "readTest",
        "setTestResult",
        "readTestDelivery",
        "cancelTest",
        "withdrawTest",
    }
    for name, link in [*created_links.items(), *(("result→" + n, link) for n, link in result_links.items())]:
        created = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0, result=None))
        assert created.status_code == 201, created.body
        source = json.loads(created.body)
        if name.startswith("result→"):
            path = f"/v1/tests/{source['id']}/result"
            updated = world.call("PUT", path, "pharmacist-a", {"result": "negative"})
            assert updated.status_code == 200, updated.body
            source = json.loads(updated.body)
        body = {"result": "positive"} if link["operationId"] == "setTestResult" else None
        followed = _follow(world, link, source, body)
        # withdrawTest on a test never sent is a 409 that names the record; never a 404.
        assert followed.status_code in (200, 204, 409), (name, followed.status_code, followed.body)
        if followed.status_code == 200:
            assert json.loads(followed.body)["id"] == source["id"], name


def test_a_served_record_has_exactly_the_fields_the_document_describes(world: World) -> None:
    from testkit.patients import ins_body

    response = world.call("POST", "/v1/tests", "pharmacist-a", ins_body(0, "passport"))
    assert response.status_code == 201, response.body
    record = json.loads(response.body)
    schemas = document()["components"]["schemas"]
    assert set(record) == set(schemas["Record"]["properties"])
    assert set(record["patient"]) == set(schemas["Patient"]["properties"])
    assert set(record["test"]) == set(schemas["Test"]["properties"])
    statuses = schemas["Patient"]["properties"]["identity_status"]["enum"]
    assert record["patient"]["identity_status"] in statuses
    traits = {"birth_last_name", "birth_first_names", "birth_place", "identity_document"}
    assert set(schemas["PatientInput"]["properties"]) >= traits
