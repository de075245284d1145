"""problem+json responses (RFC 9457) and the view decorator that maps domain errors to them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.domain.errors import DomainError, ServiceUnavailable, ValidationFailed
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


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return Response(body=body, status_code=status, headers={"Content-Type": PROBLEM_JSON})


def problem_for(error: DomainError) -> Response:
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationFailed):
        extra["errors"] = [{"field": e.field, "message": e.message} for e in error.errors]
    response = problem(error.status, error.title, error.detail, **extra)
    if isinstance(error, ServiceUnavailable):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def internal_error() -> Response:
    return problem(500, "Internal error", "An unexpected error occurred; it has been logged.")


def api_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn DomainErrors into problem+json and anything else into a 500 that leaks nothing.

    Only the exception's type is logged: messages of third-party errors may quote input.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DomainError as error:
            if error.status >= 500:
                logger.warning(
                    "request failed", extra={"error": type(error).__name__, "status": error.status}
                )
            return problem_for(error)
        except Exception as error:  # the one place that turns a bug into a clean 500
            logger.error("unhandled error", extra={"error": type(error).__name__})
            return internal_error()

    return wrapper
