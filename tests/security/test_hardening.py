"""Request hardening: size, depth, media type, unknown fields, headers on every response, CORS closed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.context import MAX_JSON_DEPTH
from chalicelib.api.problems import SECURITY_HEADERS
from testkit.patients import screening_body
from tests.conftest import World


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.body)
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def raw(world: World, method: str, path: str, body: bytes | str | None, **headers: str) -> Any:
    base = {"Authorization": f"Bearer {world.token('pharmacist-a')}"}
    base.update(headers)
    return getattr(world.client.http, method.lower())(path, headers=base, body=body)


def test_a_body_over_the_limit_is_413(world: World) -> None:
    body = screening_body(0)
    body["patient"]["last_name"] = "x" * (70 * 1024)
    response = raw(world, "POST", "/v1/tests", json.dumps(body), **{"Content-Type": "application/json"})
    problem(response, 413)


def test_a_body_nested_too_deep_is_400_without_a_crash(world: World) -> None:
    for depth in (MAX_JSON_DEPTH + 1, 5000, 100_000):
        deep = "[" * depth + "]" * depth
        response = raw(world, "POST", "/v1/tests", deep, **{"Content-Type": "application/json"})
        status = 413 if len(deep) > 64 * 1024 else 400
        assert problem(response, status)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "", "application/jsonx"],
)
def test_a_body_that_is_not_json_is_415(world: World, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    problem(raw(world, "POST", "/v1/tests", json.dumps(screening_body(0)), **headers), 415)


def test_json_with_a_charset_parameter_is_accepted(world: World) -> None:
    response = raw(
        world,
        "POST",
        "/v1/tests",
        json.dumps(screening_body(0)),
        **{"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.body


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"\xff\xfe\x00",
        b"null",
        b"[]",
        b'"a string"',
        b"1e999999",
        b'{"patient": NaN}',
        json.dumps({**screening_body(0), "extra": 1}).encode(),
        json.dumps({**screening_body(0), "test": {**screening_body(0)["test"], "unknown": True}}).encode(),
    ],
)
def test_malformed_or_unexpected_bodies_are_400(world: World, body: bytes) -> None:
    response = raw(world, "POST", "/v1/tests", body, **{"Content-Type": "application/json"})
    errors = problem(response, 400)["errors"]
    assert errors and all(set(e) == {"field", "code", "message"} for e in errors)


def test_unknown_fields_are_named_but_hostile_keys_are_not_echoed(world: World) -> None:
    body = screening_body(0)
    body["patient"]["Dupont 295109912611193"] = "x"
    body["colour"] = "blue"
    response = raw(world, "POST", "/v1/tests", json.dumps(body), **{"Content-Type": "application/json"})
    fields = {e["field"] for e in problem(response, 400)["errors"]}
    assert fields == {"colour", "patient.?"}
    assert b"295109912611193" not in response.body


@pytest.mark.parametrize(
    ("method", "path", "user", "status"),
    [
        ("GET", "/v1/health", None, 200),
        ("GET", "/v1/tests", None, 401),
        ("GET", "/v1/tests", "pharmacist-a", 200),
        ("GET", "/v1/audit", "pharmacist-a", 403),
        ("GET", "/v1/tests/0b9f4c4e-2c7a-4d0e-9a51-3f1f4f6b7a10", "pharmacist-a", 404),
        ("GET", "/v1/tests/not-a-uuid", "pharmacist-a", 404),
        ("PATCH", "/v1/tests", "pharmacist-a", 405),
        ("PUT", "/v1/health", None, 405),
        ("PUT", "/v1/audit", "admin-a", 405),
    ],
)
def test_every_response_has_the_security_headers_and_errors_are_problems(
    world: World, method: str, path: str, user: str | None, status: int
) -> None:
    response = world.call(method, path, user)
    assert response.status_code == status, response.body
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["X-Request-Id"]
    if status >= 400:
        problem(response, status)
    if status == 405:
        assert response.headers["Allow"]


def test_a_get_with_a_foreign_content_type_is_a_problem_not_chalice_s_error(world: World) -> None:
    response = raw(world, "GET", "/v1/tests", None, **{"Content-Type": "text/plain"})
    assert b"text/plain" not in response.body  # Chalice's own message would quote the header
    problem(response, 415)


def test_cors_is_closed_by_default(world: World) -> None:
    for method, path in (("GET", "/v1/tests"), ("GET", "/v1/health"), ("POST", "/v1/tests")):
        response = world.call(
            method,
            path,
            "pharmacist-a",
            screening_body(0) if method == "POST" else None,
            Origin="https://evil.example",
        )
        assert not any(name.lower().startswith("access-control-") for name in response.headers)
