"""Every response the API tests see is what the OpenAPI document declares for it: the world
fixture's test client checks each JSON body against the declared schema of its operation and status
(chalicelib/payloads/'s declarations, through the generated document)."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from chalice.test import Client, HTTPResponse
from jsonschema import Draft202012Validator


@functools.cache
def _document() -> dict[str, Any]:
    from chalicelib.api.openapi import document

    return document()


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"), template)
        for template in _document()["paths"]
    ]


@functools.cache
def _validator(template: str, method: str, status: str) -> Draft202012Validator | None:
    """The validator of that response's body, or None when the document declares no JSON body."""
    doc = _document()
    operation = doc["paths"][template].get(method)
    if operation is None or status not in operation["responses"]:
        return None
    response = operation["responses"][status]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    media = response.get("content", {})
    schema = next((m["schema"] for m in media.values()), None)
    if schema is None:
        return None
    return Draft202012Validator({**schema, "components": doc["components"]})


def check(method: str, path: str, response: Any) -> None:
    """Raise if `response` (a JSON one) is not what the document declares for it."""
    route = path.split("?", 1)[0]
    template = next((t for pattern, t in _routes() if pattern.match(route)), None)
    content_type = str(response.headers.get("Content-Type", ""))
    if template is None or not response.body or "json" not in content_type:
        return  # not a route of the document, or no JSON body
    validator = _validator(template, method, str(response.status_code))
    if validator is None:
        return  # a status the operation does not declare (the document's tests pin those)
    errors = sorted(validator.iter_errors(json.loads(response.body)), key=lambda e: list(e.path))
    assert not errors, (
        f"{method.upper()} {template} {response.status_code}: the body is not the declared one: "
        + "; ".join(f"{'/'.join(map(str, e.path)) or '(body)'}: {e.validator}" for e in errors[:5])
    )


def checked(client: Client) -> Client:
    """`client`, its HTTP answers checked against the document (every verb goes through request)."""
    http = client.http
    request = http.request

    def checking(
        method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> HTTPResponse:
        response = request(method, path, headers=headers, body=body)
        check(method.lower(), path, response)
        return response

    http.request = checking  # type: ignore[method-assign]
    return client
