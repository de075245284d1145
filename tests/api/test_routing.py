"""One API edge: every route of the app goes through the problem mapping (chalicelib/api/routing.py).

Before, each view had to remember `@api_view`; a forgotten one turned a 404 into Chalice's own 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chalice.app import RouteEntry
from chalice.test import Client

from app import app
from chalicelib.api.problems import PROBLEM_JSON, SECURITY_HEADERS
from chalicelib.api.routing import ApiBlueprint, is_edge
from chalicelib.domain.errors import NotFound

ROUTES: list[RouteEntry] = [entry for methods in app.routes.values() for entry in methods.values()]
ROUTE_IDS = [f"{entry.method} {entry.uri_pattern}" for entry in ROUTES]
# Text an unexpected exception carries (a third-party message quoting input): never in a response.
LEAKY = "1 85 05 78 006 084 91 DUPONT"


def _raising(error: Exception) -> Callable[..., Any]:
    def body(*args: Any, **kwargs: Any) -> Any:
        raise error

    return body


def _call(entry: RouteEntry) -> Any:
    return entry.view_function(**{name: "x" for name in entry.view_args})


def test_the_app_has_routes_to_walk() -> None:
    assert len(ROUTES) >= 20
    assert {"GET /v1/health", "POST /v1/tests", "GET /v1/openapi.json"} <= set(ROUTE_IDS)


@pytest.mark.parametrize("entry", ROUTES, ids=ROUTE_IDS)
def test_every_route_goes_through_the_edge(entry: RouteEntry) -> None:
    assert is_edge(entry.view_function), f"{entry.method} {entry.uri_pattern}: declare it on an ApiBlueprint"


@pytest.mark.parametrize("entry", ROUTES, ids=ROUTE_IDS)
def test_a_domain_error_from_any_route_is_its_problem(
    entry: RouteEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry.view_function, "__wrapped__", _raising(NotFound("No such test.")))
    response = _call(entry)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert response.body == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "detail": "No such test.",
    }


@pytest.mark.parametrize("entry", ROUTES, ids=ROUTE_IDS)
def test_an_unexpected_error_from_any_route_is_a_500_that_echoes_nothing(
    entry: RouteEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry.view_function, "__wrapped__", _raising(KeyError(LEAKY)))
    response = _call(entry)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert LEAKY not in json.dumps(response.body)
    assert response.body == {
        "type": "about:blank",
        "title": "Internal error",
        "status": 500,
        "detail": "An unexpected error occurred; it has been logged.",
    }


def test_through_the_gateway_the_problem_keeps_the_security_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end (middleware included) on the one route that needs neither a token nor AWS."""
    health = app.routes["/v1/health"]["GET"].view_function
    monkeypatch.setattr(health, "__wrapped__", _raising(NotFound("Gone fishing.")))
    with Client(app) as client:
        response = client.http.get("/v1/health")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert json.loads(response.body)["detail"] == "Gone fishing."
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_a_view_declared_on_an_api_blueprint_is_marked_and_keeps_its_name() -> None:
    blueprint = ApiBlueprint(__name__)

    @blueprint.route("/v1/example", methods=["GET"])
    def example() -> dict[str, str]:
        """An example."""
        return {"ok": "yes"}

    assert is_edge(example)
    assert example.__name__ == "example" and example.__doc__ == "An example."
    assert example() == {"ok": "yes"}
