"""Who may call a route is one word of its declaration (`Route.access`): a health-data route made
public by mistake would skip the token check entirely. The routes that take no bearer token are
named here, and a route the gate did not authenticate still cannot act for anyone."""

from __future__ import annotations

import pytest

from app import app
from chalicelib.api.context import caller
from chalicelib.api.routing import Access, access_of, declared
from chalicelib.domain.errors import Unauthenticated

WITHOUT_TOKEN = {
    ("GET", "/v1/health"): Access.PUBLIC,
    ("GET", "/v1/openapi.json"): Access.PUBLIC,
    ("POST", "/v1/psc/logins"): Access.ANONYMOUS,
    ("POST", "/v1/psc/logins/{login_id}/token"): Access.ANONYMOUS,
    ("GET", "/v1/psc/jwks.json"): Access.ANONYMOUS,
}


def test_only_the_health_check_the_document_and_the_psc_login_take_no_bearer_token() -> None:
    open_routes = {
        (method, path): access_of(app, path)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if (route := declared(entry.view_function)) is None
        or route.access is not Access.BEARER
        or access_of(app, path) is not Access.BEARER
    }
    assert open_routes == WITHOUT_TOKEN


def test_a_request_the_gate_did_not_authenticate_has_no_caller() -> None:
    class Unguarded:
        context: dict[str, object] = {}

    with pytest.raises(Unauthenticated):
        caller(Unguarded())  # type: ignore[arg-type]
