"""What the middleware hands the views: the verified caller and where the request came from (together,
the Call a use case takes: chalicelib/services/call.py)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from chalice.app import Request

from chalicelib.domain.errors import Unauthenticated, ValidationFailed
from chalicelib.domain.model import Principal
from chalicelib.payloads.requests import NOT_JSON, TOO_DEEP
from chalicelib.ports import RequestMeta
from chalicelib.services.call import Call

_PRINCIPAL = "depistage.principal"
_REQUEST_ID = "depistage.request_id"
MAX_JSON_DEPTH = 8
T = TypeVar("T")


_SERVED = threading.local()


@contextmanager
def serving(request: Request) -> Iterator[None]:
    """Record `request` as the one this thread serves, while it is served (the gate, api/middleware.py)."""
    _SERVED.request = request
    try:
        yield
    finally:
        _SERVED.request = None


def served_request() -> Request | None:
    """The request this thread serves: Chalice keeps one current request per app, which threads
    serving at once (`chalice local`, a test client's threads) overwrite."""
    request: Request | None = getattr(_SERVED, "request", None)
    return request


def request_id(request: Request) -> str:
    context: dict[str, Any] = request.context
    if _REQUEST_ID not in context:
        context[_REQUEST_ID] = str(context.get("requestId") or uuid.uuid4())
    return str(context[_REQUEST_ID])


def set_caller(request: Request, principal: Principal) -> None:
    request.context[_PRINCIPAL] = principal


def caller(request: Request) -> Principal:
    principal = request.context.get(_PRINCIPAL)
    if not isinstance(principal, Principal):  # a route the middleware did not guard: refuse, never guess
        raise Unauthenticated("An access token is required.")
    return principal


def meta(request: Request) -> RequestMeta:
    identity = request.context.get("identity") or {}
    return RequestMeta(
        request_id=request_id(request),
        source_ip=str(identity.get("sourceIp") or ""),
        user_agent=str(request.headers.get("user-agent", ""))[:256],
    )


def call(request: Request) -> Call:
    """The authenticated request a view hands its use case."""
    return Call(caller(request), meta(request))


def _depth(value: Any) -> int:
    """Nesting depth, iteratively: a hostile body must not exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def json_body(request: Request) -> Any:
    raw = request.raw_body or b""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationFailed([NOT_JSON.at("body")]) from exc
    if _depth(body) > MAX_JSON_DEPTH:
        raise ValidationFailed([TOO_DEEP.at("body", levels=MAX_JSON_DEPTH)])
    return body


def admitted_then_parsed(admit: Callable[[], object], parse: Callable[[], T]) -> T:
    """`parse()`'s command; if the request is malformed, the use case's own admission (`admit`: its
    role check, journaling a refusal) answers first. Views parse before the use case checks the
    role, and a caller it refuses (a platform admin on health data, another pharmacy's admin) must
    not trade the journaled 403 or 404 for an unjournaled 400 by sending a body that never parses.
    A well-formed request is checked once, by the use case."""
    try:
        return parse()
    except ValidationFailed:
        admit()
        raise
