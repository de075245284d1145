"""The OpenAPI 3.1 description of the public API (CONTRACT.md §3), served at GET /v1/openapi.json.

Generated: the paths are the routes' declarations (chalicelib/api/routing.py `Route`, one per view
in the blueprints), components.schemas and the query parameters the payload declarations of
chalicelib/payloads/ (the same ones that parse the requests and render the answers). This module
holds only what is the document's own: the problem responses, the headers every answer carries and
the path parameters by name. Every problem type (chalicelib/api/problems.py) and every field error
code (the rules of the payload declarations) is listed from its declaration: `x-problem-types` and
`x-error-codes`. A test checks that its paths and methods are exactly the app's routes
and that it is a valid 3.1 document; another that it means what the hand-written document it
replaced meant.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from chalice import Response

from chalicelib import payloads
from chalicelib.api.context import MAX_JSON_DEPTH
from chalicelib.api.problems import SECURITY_HEADERS, ProblemType
from chalicelib.api.routing import Access, ApiBlueprint, Reply, Route
from chalicelib.domain.alerts import ALERT_ID_PATTERN
from chalicelib.domain.errors import Rule
from chalicelib.schema import Pattern, Schema, Shape, ref

blueprint = ApiBlueprint(__name__)

API_VERSION = "1.0.0"
_STRING: Schema = {"type": "string"}

_ERRORS = {
    "400": ("BadRequest", "Validation failed: `errors` names every field."),
    "401": ("Unauthenticated", "No valid Cognito access token."),
    "403": ("Forbidden", "The caller's role does not allow this."),
    "404": ("NotFound", "Unknown id, or a record of another pharmacy."),
    "409": ("Conflict", "The state or the Idempotency-Key forbids it."),
    "410": ("Gone", "The login expired: start a new one."),
    "429": ("TooManyRequests", "Too fast or too many (slow_down): wait Retry-After seconds."),
    "413": ("PayloadTooLarge", "The body is too large."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "503": ("ServiceUnavailable", "A dependency failed; nothing was half-written. Retry after Retry-After."),
}


def _types_of(status: int) -> list[str]:
    """The problem types a route's answer of this status may have (their URIs)."""
    return [kind.uri for kind in ProblemType.declared.values() if kind.status == status]


def problem_types() -> dict[str, Schema]:
    """Every problem type, by URI, as problems.py declares it."""
    return {
        kind.uri: {"status": kind.status, "title": kind.title, "description": kind.description}
        for kind in ProblemType.declared.values()
    }


def error_codes() -> dict[str, Schema]:
    """Every field error code, with its English message, as the payload declarations declare it (a
    message's `{name}` is a declared limit the error's message gives)."""
    return {code: {"message": Rule.declared[code].message} for code in sorted(Rule.declared)}


def _headers() -> dict[str, Schema]:
    headers: dict[str, Schema] = {
        name: {"description": "Sent on every response.", "schema": {"type": "string", "const": value}}
        for name, value in SECURITY_HEADERS.items()
        if name == "Cache-Control"  # the one that matters for health data; the others are tested elsewhere
    }
    headers["X-Request-Id"] = {"description": "Correlation id of the request.", "schema": _STRING}
    return headers


def _responses() -> dict[str, Schema]:
    problem_content = {"application/problem+json": {"schema": ref(payloads.PROBLEM.name)}}
    responses: dict[str, Schema] = {
        name: {
            "description": description,
            "headers": _headers(),
            "content": problem_content,
            "x-problem-types": _types_of(int(status)),
        }
        for status, (name, description) in _ERRORS.items()
    }
    responses["ServiceUnavailable"]["headers"] = {
        **_headers(),
        "Retry-After": {"required": True, "description": "Seconds.", "schema": payloads.SECONDS_HEADER},
    }
    return responses


# CONTRACT.md's example record (a real, valid NIR agreeing with sex and birth date). It stays in this
# module: the fuzzer sends it, and devtools/fuzz.py keeps this module's words out of the service's own
# vocabulary, so that an echo of its name still counts.
SUBMISSION_EXAMPLE: Schema = {
    "patient": {
        "nir": "2 95 10 99 126 111 93",
        "last_name": "Dupont",
        "first_name": "Jeanne",
        "birth_date": "1995-10-01",
        "sex": "F",
        "email": "jeanne@example.org",
        "phone": "+33612345678",
        "address": {"line": "1 rue de la Paix", "postal_code": "75002", "city": "Paris"},
    },
    "test": {
        "kind": "antigen",
        "device_id": "1232",
        "sampled_at": "2026-11-29T10:15:00+01:00",
        "result": "negative",
    },
}


def _reply(reply: Reply) -> Schema:
    """A route's answer as an OpenAPI response."""
    response: Schema = {"description": reply.description}
    if reply.headers:
        response["headers"] = _headers()
    if reply.location is not None:
        response["headers"] = {
            **response.get("headers", {}),
            "Location": {"required": True, "schema": dict(_STRING)},
        }
    if reply.body is not None:
        schema = reply.body.reference() if isinstance(reply.body, Shape) else dict(reply.body)
        response["content"] = {reply.media_type: {"schema": schema}}
    if reply.links:
        response["links"] = dict(reply.links)
    return response


def _errors(*codes: str) -> dict[str, Schema]:
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}


def _body(payload: Shape[Any], example: Schema | None = None) -> Schema:
    media: Schema = {"schema": payload.reference()}
    if example is not None:
        media["example"] = example
    body: Schema = {"required": True, "content": {payload.media_type: media}}
    if payload.media_type != "application/json" and payload.description:
        body["description"] = payload.description  # a CSV sheet: its columns, from their declaration
    return body


def _path(name: str, schema: Schema, description: str = "") -> Schema:
    parameter: Schema = {"name": name, "in": "path", "required": True, "schema": dict(schema)}
    if description:
        parameter["description"] = description
    return parameter


# Every path parameter, by the name routes give it in their paths.
PATH_PARAMETERS: dict[str, Schema] = {
    "record_id": _path("record_id", payloads.UUID_PARAM, "A test record id; anything else is 404."),
    "finess": _path("finess", payloads.FINESS_PARAM),
    "username": _path("username", _STRING),
    "login_id": _path("login_id", payloads.LOGIN_ID_PARAM),
    "import_id": _path("import_id", payloads.UUID_PARAM, "An import id of the caller's pharmacy; else 404."),
    "alert_id": _path(
        "alert_id",
        {"type": "string", "pattern": Pattern(ALERT_ID_PATTERN).anchored},
        "An alert's id (`alert_id` of the pharmacy's alerts); anything else is 404.",
    ),
}


def _operation(route: Route) -> Schema:
    operation: Schema = {"operationId": route.operation_id, "summary": route.summary}
    if route.description:
        operation["description"] = route.description
    parameters = [dict(header) for header in route.headers]
    if route.query is not None:
        parameters += route.query.parameters()
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = _body(route.body, route.example)
    if route.access is not Access.BEARER:
        operation["security"] = []
    operation["responses"] = {str(route.reply.status): _reply(route.reply), **_errors(*route.problems)}
    return operation


def _blueprints() -> tuple[ApiBlueprint, ...]:
    """Every blueprint of the API (a test checks the document describes exactly the app's routes)."""
    from chalicelib.api import admin, alerts, health, imports, journal, patients, psc, records, session, stats

    return (
        health.blueprint,
        blueprint,
        records.blueprint,
        journal.blueprint,
        admin.blueprint,
        session.blueprint,
        patients.blueprint,
        stats.blueprint,
        psc.blueprint,
        imports.blueprint,
        alerts.blueprint,
    )


def _paths() -> dict[str, Schema]:
    """Each declared route (chalicelib/api/routing.py), under its path; a path's parameters once."""
    paths: dict[str, Schema] = {}
    for api in _blueprints():
        for route in api.declarations:
            item = paths.setdefault(route.path, {})
            names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
            if names:
                item["parameters"] = [PATH_PARAMETERS[name] for name in names]
            item[route.method.lower()] = _operation(route)
    return paths


@functools.cache
def _document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "depistage",
            "version": API_VERSION,
            "summary": "Pharmacies record COVID-19 antigen tests; results go to SI-DEP.",
            "description": (
                "Every route but health, this document and the Pro Santé Connect login needs "
                "`Authorization: Bearer <access token>` (Cognito's, or ours after a PSC login). "
                "Bodies are `application/json`, at most as nested as "
                f"{MAX_JSON_DEPTH} levels, with no unknown field. Errors are `application/problem+json`: "
                "each has a stable `type` (x-problem-types) and each field error a stable `code` "
                "(x-error-codes), to switch on and translate."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT (Cognito access token)",
                }
            },
            "schemas": payloads.component_schemas(),
            "responses": _responses(),
        },
        "x-problem-types": problem_types(),
        "x-error-codes": error_codes(),
    }


def document() -> Schema:
    """A fresh copy of the document (callers may change theirs)."""
    return copy.deepcopy(_document())


@blueprint.route(
    Route(
        "GET",
        "/v1/openapi.json",
        "openapi",
        "This document; no authentication.",
        Reply(200, "The OpenAPI 3.1 description.", {"type": "object"}),
        access=Access.PUBLIC,
    )
)
def openapi_document() -> Response:
    return Response(body=_document(), status_code=200, headers={"Content-Type": "application/json"})
