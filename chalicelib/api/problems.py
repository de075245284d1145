"""problem+json responses (RFC 9457): the one table from an exception's type to its HTTP status and
title, and the mapping every route goes through (chalicelib/api/routing.py).

The domain raises errors that say what went wrong; which status and title that is on the wire is
decided here, and nowhere else. The edge's own refusals (a body too large, not JSON) are EdgeErrors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IntegrityError,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from chalicelib.domain.psc import (
    AccessDenied,
    AuthorizationPending,
    CibaProblem,
    LoginExpired,
    PscRefused,
    SlowDown,
    TooManyStarts,
    UnknownIdentifier,
    UnknownLogin,
)
from chalicelib.observability import logger

PROBLEM_JSON = "application/problem+json"

# Every response carries these; health data must never sit in a shared cache.
SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


class EdgeError(Exception):
    """A request the HTTP edge refuses before any view runs (its shape, not its meaning)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PayloadTooLarge(EdgeError):
    pass


class UnsupportedMediaType(EdgeError):
    pass


# Exception type → (status, title). Looked up along the error's MRO, so the most specific entry wins;
# a test checks that every DomainError subclass has its own entry.
PROBLEMS: dict[type[Exception], tuple[int, str]] = {
    # the edge's own
    PayloadTooLarge: (413, "Payload too large"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    # the CIBA states of a Pro Santé Connect login (their OAuth error code rides along as `error`)
    AuthorizationPending: (400, "Authorization pending"),
    SlowDown: (429, "Polling too fast"),
    TooManyStarts: (429, "Too many logins"),
    LoginExpired: (410, "Login expired"),
    AccessDenied: (403, "Login declined"),
    UnknownIdentifier: (404, "Unknown identifier"),
    UnknownLogin: (404, "Unknown login"),
    CibaProblem: (500, "Internal error"),
    PscRefused: (403, "Pro Santé Connect login refused"),
    # the domain's
    ValidationFailed: (400, "Invalid request"),
    Unauthenticated: (401, "Unauthenticated"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    ServiceUnavailable: (503, "Service unavailable"),
    IntegrityError: (500, "Integrity check failed"),
    DomainError: (500, "Internal error"),
}


def status_and_title(error: Exception) -> tuple[int, str] | None:
    """The table's entry for `error` (its most specific class that has one), or None: a bug."""
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return None


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return Response(body=body, status_code=status, headers={"Content-Type": PROBLEM_JSON})


def problem_for(error: DomainError | EdgeError) -> Response:
    status, title = status_and_title(error) or PROBLEMS[DomainError]
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationFailed):
        extra["errors"] = [{"field": e.field, "message": e.message} for e in error.errors]
    if isinstance(error, Conflict) and error.withdrawal:
        extra["withdrawal"] = error.withdrawal
    if isinstance(error, CibaProblem):
        extra["error"] = error.error_code  # the OAuth/CIBA code a client library expects
    response = problem(status, title, error.detail or title, **extra)
    retry_after = getattr(error, "retry_after_seconds", None)
    if isinstance(error, ServiceUnavailable | CibaProblem) and retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


# Errors Chalice answers itself (405 for a method a route lacks, 415 for a route's content types, its
# own 500), in its {"Code", "Message"} shape: re-issued as problem+json, with a fixed detail because
# Chalice's message quotes the request (a header value).
_OWN_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Invalid request", "The request is malformed."),
    404: ("Not found", "No such resource."),
    405: ("Method not allowed", "This route does not accept this method."),
    415: ("Unsupported media type", "Send the body as application/json."),
}


def as_problem(response: Response) -> Response:
    """`response` itself, unless it is an error not in problem+json: then its problem+json form."""
    if response.status_code < 400:
        return response
    headers = {name.lower(): str(value) for name, value in response.headers.items()}
    if headers.get("content-type", "").split(";", 1)[0].strip() == PROBLEM_JSON:
        return response
    title, detail = _OWN_ERRORS.get(response.status_code, ("Internal error", "An unexpected error occurred."))
    status = response.status_code if response.status_code in _OWN_ERRORS else 500
    fixed = problem(status, title, detail)
    if "allow" in headers:
        fixed.headers["Allow"] = headers["allow"]
    return fixed


def internal_error() -> Response:
    return problem(500, "Internal error", "An unexpected error occurred; it has been logged.")


def mapped(call: Callable[[], Any]) -> Any:
    """`call()`, with DomainErrors turned into problem+json and anything else into a 500 that leaks
    nothing. Only the exception's type is logged: messages of third-party errors may quote input.
    """
    try:
        return call()
    except (DomainError, EdgeError) as error:
        response = problem_for(error)
        if response.status_code >= 500:
            logger.warning(
                "request failed", extra={"error": type(error).__name__, "status": response.status_code}
            )
        return response
    except Exception as error:  # the one place that turns a bug into a clean 500
        logger.error("unhandled error", extra={"error": type(error).__name__})
        return internal_error()
