"""API Gateway's own answers (an unknown route or method, a throttle, a WAF block), declared once:
the template configures the deployed gateway with them (infra/template/api.py) and the local stack
answers with the same bodies (devtools/local_api.py). Fixed texts: API Gateway's default "Missing
Authentication Token" answer echoes the Authorization header."""

from __future__ import annotations

from typing import Any

from chalicelib.api.problems import (
    RATE_LIMITED,
    REQUEST_BLOCKED,
    ROUTE_NOT_FOUND,
    SERVICE_UNAVAILABLE,
    ProblemType,
)

# API Gateway's response type → its problem type (chalicelib/api/problems.py). DEFAULT_4XX answers an
# unknown route and an unknown method alike (the gateway tells them apart no more than that).
GATEWAY_TYPES: dict[str, ProblemType] = {
    "DEFAULT_4XX": ROUTE_NOT_FOUND,
    "DEFAULT_5XX": SERVICE_UNAVAILABLE,
    "THROTTLED": RATE_LIMITED,
    "WAF_FILTERED": REQUEST_BLOCKED,
}
# (API Gateway's response type, its status, its title)
GATEWAY_RESPONSES: tuple[tuple[str, str, str], ...] = tuple(
    (name, str(kind.status), kind.title) for name, kind in GATEWAY_TYPES.items()
)
# The API's security headers (chalicelib/api/problems.py SECURITY_HEADERS), as API Gateway can set
# them: a gateway response's header value is a quoted literal that cannot hold a quote, so the
# content policy is `sandbox` (as strict for a problem body) rather than "default-src 'none'".
GATEWAY_HEADERS: dict[str, str] = {
    "Content-Type": "application/problem+json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "sandbox",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


def gateway_problem(kind: str) -> tuple[int, dict[str, Any]]:
    """The status and problem+json body the gateway answers for a response type."""
    problem = GATEWAY_TYPES[kind]
    body = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.title + ".",
    }
    return problem.status, body
