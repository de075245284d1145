"""The one way a route is declared: a `Route` says its method and path, who may call it, what it reads
(body, query, headers) and the one answer it gives (status, body declaration, Location), and the
problems it may answer. From that one declaration:

- `ApiBlueprint.route` registers the Chalice route, behind the problem mapping, and renders the
  view's domain value as the declared body (chalicelib/payloads/responses.py);
- the middleware reads who may call it (`access_of`: public, anonymous or bearer);
- the OpenAPI document describes it (chalicelib/api/openapi.py).

A view raises domain errors; the edge answers them as problem+json (chalicelib/api/problems.py) and
anything else as a 500 that echoes nothing. No view can forget it: the blueprint applies it, and a
test walks `app.routes` to prove every view went through here (tests/api/test_routing.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from chalice import Blueprint, Chalice, Response

from chalicelib.api.context import served_request
from chalicelib.api.problems import mapped
from chalicelib.schema import Obj, Schema, Shape

_MARK = "__depistage_edge__"
_ROUTE = "__depistage_route__"

# The problems a route may answer besides its own: every protected route these, a body route these.
PROTECTED = ("401", "403", "503")
WITH_BODY = ("400", "413", "415")


class Access(StrEnum):
    """Who may call a route."""

    PUBLIC = "public"  # anyone, nothing checked: the health check and the API document
    ANONYMOUS = "anonymous"  # no bearer token, but its body is checked: the Pro Santé Connect login
    BEARER = "bearer"  # a verified access token (Cognito's, or ours after a PSC login)


class Reply(NamedTuple):
    """A route's answer: its status, what its body is (a declared shape, a bare schema for a body
    served as is, or None: no body) and the Location it names, from the answered value."""

    status: int
    description: str
    body: Shape[Any] | Schema | None = None
    location: Callable[[Any], str] | None = None
    headers: bool = True  # the document lists the headers every answer carries
    links: Mapping[str, Schema] | None = None
    media_type: str = "application/json"  # a body served as is in another type (a CSV report)


class Route(NamedTuple):
    """One route, declared once (see the module's docstring). `problems` are the error statuses it
    may answer (their bodies are problem+json)."""

    method: str
    path: str
    operation_id: str
    summary: str
    reply: Reply
    problems: tuple[str, ...] = ()
    access: Access = Access.BEARER
    body: Shape[Any] | None = None
    example: Schema | None = None
    query: Obj[Any] | None = None
    headers: tuple[Schema, ...] = ()  # header parameters, as OpenAPI parameter objects
    description: str = ""


def answer(value: Any, reply: Reply) -> Any:
    """The view's domain value as the declared answer (a Response the view made is kept as is)."""
    if isinstance(value, Response):
        return value
    if reply.body is None:
        return Response(body="", status_code=reply.status)
    body = reply.body.render(value) if isinstance(reply.body, Shape) else value
    if reply.location is None:
        return Response(body=body, status_code=reply.status)
    return Response(body=body, status_code=reply.status, headers={"Location": reply.location(value)})


def edge(view: Callable[..., Any], reply: Reply | None = None) -> Callable[..., Any]:
    """`view` behind the problem mapping, marked as such; its value answered as `reply` declares.

    The view is looked up on each call (`__wrapped__`, set by functools.wraps), so that a test can
    stand in for any route's body and see the mapping that route really applies.
    """

    @functools.wraps(view)
    def routed(*args: Any, **kwargs: Any) -> Any:
        body: Callable[..., Any] = routed.__wrapped__
        if reply is None:
            return mapped(lambda: body(*args, **kwargs))
        return mapped(lambda: answer(body(*args, **kwargs), reply))

    setattr(routed, _MARK, True)
    return routed


def is_edge(view: Callable[..., Any]) -> bool:
    return getattr(view, _MARK, False) is True


def declared(view: Callable[..., Any]) -> Route | None:
    """The declaration a view was registered with."""
    route = getattr(view, _ROUTE, None)
    return route if isinstance(route, Route) else None


def access_of(app: Chalice, path: str) -> Access:
    """Who may call `path` (a route's path pattern): a path of public routes is public, one of
    anonymous routes anonymous; any other path, known or not, needs a bearer token."""
    levels = {
        route.access if (route := declared(entry.view_function)) is not None else Access.BEARER
        for entry in app.routes.get(path, {}).values()
    }
    return levels.pop() if len(levels) == 1 else Access.BEARER


def media_type_of(app: Chalice, path: str, method: str) -> str:
    """The media type a route's body is sent as (its body's declaration; JSON unless it says)."""
    entry = app.routes.get(path, {}).get(method)
    route = declared(entry.view_function) if entry is not None else None
    return route.body.media_type if route is not None and route.body is not None else "application/json"


class ApiBlueprint(Blueprint):
    """A Chalice Blueprint whose routes are declared (`Route`) and all behind the problem mapping."""

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        self.declarations: list[Route] = []

    @property
    def current_request(self) -> Any:
        """The request this thread serves (api/context.served_request), else Chalice's: its one
        current request per app is overwritten by another thread serving at the same time."""
        request = served_request()
        return request if request is not None else super().current_request

    def route(self, path: str | Route, **kwargs: Any) -> Callable[..., Any]:
        """Register the declared route (a `Route`); a bare path with Chalice's options registers a
        route the document does not describe (tests only)."""
        route = path if isinstance(path, Route) else None
        if route is not None:
            self.declarations.append(route)
            kwargs = {"methods": [route.method]}
            if route.body is not None:
                kwargs["content_types"] = [route.body.media_type]
        register = super().route(route.path if route is not None else str(path), **kwargs)

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            routed = edge(view, route.reply if route is not None else None)
            setattr(routed, _ROUTE, route)
            return register(routed)  # type: ignore[no-any-return]

        return decorator
