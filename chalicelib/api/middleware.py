"""The HTTP gate every request passes: correlation id, request hardening, authentication, headers.

It is an `@app.middleware('http')` rather than an API Gateway authorizer so that it behaves the
same in AWS, under `chalice local` and in the Chalice test client, and answers 401 itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.api.context import meta, request_id, serving, set_caller
from chalicelib.api.problems import (
    SECURITY_HEADERS,
    PayloadTooLarge,
    UnsupportedMediaType,
    as_problem,
)
from chalicelib.api.routing import Access, access_of, edge, media_type_of
from chalicelib.observability import logger

# Who may call a route is its declaration's (`Route.access`): public routes pass untouched, anonymous
# ones (the Pro Santé Connect login) need no bearer token but their bodies are checked.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _check_shape(request: Request, max_body_bytes: int, expected: str = "application/json") -> None:
    body = request.raw_body or b""
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_body_bytes} bytes.")
    if request.method in BODY_METHODS and body:  # an empty POST (a withdrawal) needs no media type
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != expected:
            raise UnsupportedMediaType(f"Send the body as {expected}.")


def install(app: Chalice, container: Callable[[], Any]) -> None:
    """Register the gate on `app`; `container` gives the process's wired services when first needed."""

    @edge  # the gate's refusals (401, 413, 415) go through the routes' one problem mapping
    def guarded(event: Request, get_response: Callable[[Request], Response]) -> Response:
        access = access_of(app, event.path)
        if access is Access.PUBLIC:
            return get_response(event)
        c = container()
        if access is Access.ANONYMOUS:
            if event.method in app.routes.get(event.path, {}):
                _check_shape(event, c.settings.max_body_bytes)
            return get_response(event)
        route = f"{event.method} {event.path}"
        principal = c.authenticate(meta(event), event.headers.get("authorization"), route)
        if event.method not in app.routes.get(event.path, {}):
            return get_response(event)  # Chalice answers 405 (as problem+json); a body check would say 415
        _check_shape(event, c.settings.max_body_bytes, media_type_of(app, event.path, event.method))
        set_caller(event, principal)
        logger.thread_safe_append_keys(
            actor=principal.username, role=principal.role.value, finess=principal.finess
        )
        return get_response(event)

    @app.middleware("http")
    def gate(event: Request, get_response: Callable[[Request], Response]) -> Response:
        rid = request_id(event)
        # Per-thread keys: `chalice local` serves requests on threads, and one request's caller must
        # never be logged on another's lines.
        logger.thread_safe_append_keys(correlation_id=rid, route=event.path, method=event.method)
        try:
            with serving(event):
                response: Response = as_problem(guarded(event, get_response))
            logger.info("request", extra={"status": response.status_code})
        finally:
            logger.thread_safe_clear_keys()
        response.headers.update(SECURITY_HEADERS)
        response.headers["X-Request-Id"] = rid
        return response
