"""API Gateway's own answers (an unknown route or method, a throttle, a WAF block), declared once:
the template configures the deployed gateway with them (infra/template/api.py) and the local stack
answers with the same bodies (devtools/local_api.py). Fixed texts: API Gateway's default "Missing
Authentication Token" answer echoes the Authorization header."""

from __future__ import annotations

from typing import Any

# (API Gateway's response type, its status, its title)
GATEWAY_RESPONSES: tuple[tuple[str, str, str], ...] = (
    ("DEFAULT_4XX", "404", "Not found"),
    ("DEFAULT_5XX", "503", "Service unavailable"),
    ("THROTTLED", "429", "Too many requests"),
    ("WAF_FILTERED", "403", "Forbidden"),
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
    status, title = next((int(status), title) for name, status, title in GATEWAY_RESPONSES if name == kind)
    return status, {"type": "about:blank", "title": title, "status": status, "detail": title + "."}
