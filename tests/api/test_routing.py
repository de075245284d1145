"""One API edge: every route of the app is declared once (chalicelib/api/routing.py `Route`) and goes
through the problem mapping; its answer, the document and who may call it come from that declaration.

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
from chalicelib.api.openapi import document
from chalicelib.api.problems import PROBLEM_JSON, SECURITY_HEADERS
from chalicelib.api.routing import Access, ApiBlueprint, Reply, Route, access_of, declared, is_edge
from chalicelib.domain.errors import NotFound
from chalicelib.payloads import PHARMACY

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
        "type": "tag:depistage.fr,2026:problems/not-found",
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
        "type": "tag:depistage.fr,2026:problems/internal-error",
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


@pytest.mark.parametrize("entry", ROUTES, ids=ROUTE_IDS)
def test_every_route_of_the_app_is_declared_with_its_own_method_and_path(entry: RouteEntry) -> None:
    route = declared(entry.view_function)
    assert route is not None, f"{entry.method} {entry.uri_pattern}: declare it with a Route"
    assert (route.method, route.path) == (entry.method, entry.uri_pattern)


def test_the_document_describes_each_declared_route_and_its_access() -> None:
    paths = document()["paths"]
    described = {
        (path, method.upper()): operation.get("security")
        for path, item in paths.items()
        for method, operation in item.items()
        if method != "parameters"
    }
    routes = {(entry.uri_pattern, entry.method): declared(entry.view_function) for entry in ROUTES}
    assert set(described) == set(routes)
    for key, route in routes.items():
        assert route is not None
        assert (described[key] == []) == (route.access is not Access.BEARER), key


def test_who_may_call_a_path_is_its_routes_declaration() -> None:
    assert access_of(app, "/v1/health") is Access.PUBLIC
    assert access_of(app, "/v1/openapi.json") is Access.PUBLIC
    for path in ("/v1/psc/logins", "/v1/psc/logins/{login_id}/token", "/v1/psc/jwks.json"):
        assert access_of(app, path) is Access.ANONYMOUS
    assert access_of(app, "/v1/tests") is Access.BEARER
    assert access_of(app, "/v1/tests/{record_id}") is Access.BEARER
    assert access_of(app, "/v1/no-such-route") is Access.BEARER  # unknown: a token first, never a pass


class _Onboarded:
    finess, name, time_zone, internal = "750000010", "Pharmacie", "Europe/Paris", "not in the body"


def test_a_view_s_domain_value_is_answered_as_its_route_declares() -> None:
    blueprint = ApiBlueprint(__name__)
    route = Route(
        "POST",
        "/v1/example",
        "example",
        "An example.",
        Reply(201, "Made.", PHARMACY, location=lambda made: f"/v1/example/{made.finess}"),
    )

    @blueprint.route(route)
    def make() -> _Onboarded:
        return _Onboarded()

    @blueprint.route(route._replace(method="DELETE", reply=Reply(204, "Gone.")))
    def remove() -> None:
        return None

    made = make()
    assert (made.status_code, made.headers) == (201, {"Location": "/v1/example/750000010"})
    assert (
        json.dumps(made.body) == '{"finess": "750000010", "name": "Pharmacie", "time_zone": "Europe/Paris"}'
    )
    gone = remove()
    assert (gone.status_code, gone.body) == (204, "")
    assert blueprint.declarations == [route, route._replace(method="DELETE", reply=Reply(204, "Gone."))]
