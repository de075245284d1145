"""problem+json responses (RFC 9457): the one table from an exception's type to its problem type
(its `type` URI, HTTP status and title), and the mapping every route goes through
(chalicelib/api/routing.py). The API document lists every problem type from these declarations
(chalicelib/api/openapi.py); docs/errors.md explains them and docs/errors.fr.json translates them.

The domain raises errors that say what went wrong; which status and title that is on the wire is
decided here, and nowhere else. The edge's own refusals (a body too large, not JSON) are EdgeErrors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from chalice import Response

from chalicelib.domain.errors import (
    Conflict,
    ConflictReason,
    DomainError,
    FieldError,
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


# A problem type's URI is a tag URI (RFC 4151): a name, never an address. Each deployment serves the
# API under its own domain, so a locator under any one of them would be wrong for the others, and a
# URL invites clients to fetch it (RFC 9457 lets `type` be any URI; a client compares it as a string).
# Stable: a published type never changes meaning; a new kind of problem gets a new type.
TYPE_PREFIX = "tag:depistage.fr,2026:problems/"


class ProblemType:
    """One kind of problem: its `type` URI's last segment, HTTP status, title and meaning."""

    __slots__ = ("description", "slug", "status", "title")
    declared: ClassVar[dict[str, ProblemType]] = {}  # every type, by slug, in declaration order

    def __init__(self, slug: str, status: int, title: str, description: str) -> None:
        if slug in ProblemType.declared:
            raise ValueError(f"the problem type {slug!r} is declared twice")
        self.slug, self.status, self.title, self.description = slug, status, title, description
        ProblemType.declared[slug] = self

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.slug


_RETRY = "Retry after Retry-After seconds."
# The edge's own answers (Chalice's, the gateway's: chalicelib/api/gateway.py)
MALFORMED_REQUEST = ProblemType("malformed-request", 400, "Invalid request", "The request cannot be read.")
ROUTE_NOT_FOUND = ProblemType(
    "route-not-found", 404, "Not found", "No route of the API has this path and method."
)
METHOD_NOT_ALLOWED = ProblemType(
    "method-not-allowed", 405, "Method not allowed", "The route does not accept this method (see Allow)."
)
RATE_LIMITED = ProblemType(
    "rate-limited", 429, "Too many requests", "The API's request rate was exceeded; retry later."
)
REQUEST_BLOCKED = ProblemType(
    "request-blocked", 403, "Forbidden", "The web application firewall refused the request."
)
INTERNAL_ERROR = ProblemType(
    "internal-error", 500, "Internal error", "An unexpected error, logged; nothing echoes it."
)
SERVICE_UNAVAILABLE = ProblemType(
    "service-unavailable",
    503,
    "Service unavailable",
    f"A dependency failed; nothing was half-written. {_RETRY}",
)

# Exception type → its problem type. Looked up along the error's MRO, so the most specific entry wins;
# a test checks that every DomainError subclass has its own entry.
PROBLEMS: dict[type[Exception], ProblemType] = {
    # the edge's own
    PayloadTooLarge: ProblemType("payload-too-large", 413, "Payload too large", "The body is too large."),
    UnsupportedMediaType: ProblemType(
        "unsupported-media-type", 415, "Unsupported media type", "The body is not application/json."
    ),
    # the CIBA states of a Pro Santé Connect login (their OAuth error code rides along as `error`)
    AuthorizationPending: ProblemType(
        "authorization-pending",
        400,
        "Authorization pending",
        "The professional has not yet approved the login on their e-CPS: poll again.",
    ),
    SlowDown: ProblemType("slow-down", 429, "Polling too fast", f"Poll less often. {_RETRY}"),
    TooManyStarts: ProblemType(
        "too-many-logins", 429, "Too many logins", f"Too many logins started for this identifier. {_RETRY}"
    ),
    LoginExpired: ProblemType("login-expired", 410, "Login expired", "The login expired: start a new one."),
    AccessDenied: ProblemType(
        "login-declined", 403, "Login declined", "The login was declined or cannot be approved."
    ),
    UnknownIdentifier: ProblemType(
        "unknown-identifier", 404, "Unknown identifier", "Pro Santé Connect knows no such professional."
    ),
    UnknownLogin: ProblemType("unknown-login", 404, "Unknown login", "No login of this id is under way."),
    CibaProblem: INTERNAL_ERROR,
    PscRefused: ProblemType(
        "psc-refused",
        403,
        "Pro Santé Connect login refused",
        "The professional may not log in here (not a member, not at this pharmacy, not a pharmacist).",
    ),
    # the domain's
    ValidationFailed: ProblemType(
        "validation-failed",
        400,
        "Invalid request",
        "Fields break rules: `errors` names each field, its rule's `code` and an English message.",
    ),
    Unauthenticated: ProblemType(
        "unauthenticated", 401, "Unauthenticated", "No valid access token (missing, expired or revoked)."
    ),
    Forbidden: ProblemType(
        "forbidden", 403, "Forbidden", "The caller's role or pharmacy does not allow this."
    ),
    NotFound: ProblemType("not-found", 404, "Not found", "No such resource, or one of another pharmacy."),
    Conflict: ProblemType("conflict", 409, "Conflict", "The resource's state forbids this."),
    ServiceUnavailable: SERVICE_UNAVAILABLE,
    IntegrityError: ProblemType(
        "integrity-check-failed", 500, "Integrity check failed", "Stored data failed an integrity check."
    ),
    DomainError: INTERNAL_ERROR,
}


def _conflict(reason: ConflictReason, description: str) -> ProblemType:
    return ProblemType(reason.value.replace("_", "-"), 409, "Conflict", description)


# A conflict's reason → its own type (the generic one is Conflict's entry above); a test checks that
# every reason has one.
CONFLICTS: dict[ConflictReason, ProblemType] = {
    ConflictReason.CONFLICT: PROBLEMS[Conflict],
    ConflictReason.CHANGED_MEANWHILE: _conflict(
        ConflictReason.CHANGED_MEANWHILE, "Another change came first: reload and retry."
    ),
    ConflictReason.IDEMPOTENCY_KEY_REUSED: _conflict(
        ConflictReason.IDEMPOTENCY_KEY_REUSED, "This Idempotency-Key was used with another body."
    ),
    ConflictReason.RECORD_EXISTS: _conflict(ConflictReason.RECORD_EXISTS, "A record with this id exists."),
    ConflictReason.ALREADY_SENT: _conflict(
        ConflictReason.ALREADY_SENT,
        "A message for this test may have reached SI-DEP: withdraw it (`withdrawal` names the route).",
    ),
    ConflictReason.NEVER_SENT: _conflict(
        ConflictReason.NEVER_SENT, "Nothing of this test was sent to SI-DEP: cancel it instead."
    ),
    ConflictReason.CANCELLED: _conflict(ConflictReason.CANCELLED, "This test was cancelled."),
    ConflictReason.ERASED: _conflict(
        ConflictReason.ERASED, "The record's personal data was erased: it can no longer change."
    ),
    ConflictReason.PHARMACY_EXISTS: _conflict(
        ConflictReason.PHARMACY_EXISTS, "This pharmacy is already onboarded."
    ),
    ConflictReason.ALREADY_MEMBER: _conflict(
        ConflictReason.ALREADY_MEMBER, "This user or professional is already a member of a pharmacy."
    ),
    ConflictReason.PHARMACY_HAS_ADMIN: _conflict(
        ConflictReason.PHARMACY_HAS_ADMIN,
        "The pharmacy has its pharmacy_admin: its admins manage its members.",
    ),
    ConflictReason.PSC_REQUIRED: _conflict(
        ConflictReason.PSC_REQUIRED,
        "The pharmacy requires Pro Santé Connect: invite by national identifier.",
    ),
    ConflictReason.PSC_ADMIN_NEEDED: _conflict(
        ConflictReason.PSC_ADMIN_NEEDED,
        "Requiring Pro Santé Connect needs a pharmacy_admin who logs in with it first.",
    ),
    ConflictReason.SELF_REVOCATION: _conflict(
        ConflictReason.SELF_REVOCATION, "An admin cannot revoke themself."
    ),
    ConflictReason.NO_PENDING_INVITATION: _conflict(
        ConflictReason.NO_PENDING_INVITATION, "The member has no pending invitation to re-send."
    ),
}


def problem_type(error: Exception) -> ProblemType | None:
    """The table's entry for `error` (its most specific class that has one; a conflict's reason's),
    or None: a bug."""
    if isinstance(error, Conflict):
        return CONFLICTS[error.reason]
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return None


def status_and_title(error: Exception) -> tuple[int, str] | None:
    kind = problem_type(error)
    return None if kind is None else (kind.status, kind.title)


def problem(kind: ProblemType, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": kind.uri, "title": kind.title, "status": kind.status, "detail": detail}
    body.update(extra)
    return Response(body=body, status_code=kind.status, headers={"Content-Type": PROBLEM_JSON})


def field_errors(errors: list[FieldError]) -> list[dict[str, str]]:
    """A problem's `errors`: each field, its rule's code and message (payloads.FIELD_ERROR's order)."""
    return [{"field": e.field, "code": e.code, "message": e.message} for e in errors]


def problem_for(error: DomainError | EdgeError) -> Response:
    kind = problem_type(error) or INTERNAL_ERROR
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationFailed):
        extra["errors"] = field_errors(error.errors)
    if isinstance(error, Conflict) and error.withdrawal:
        extra["withdrawal"] = error.withdrawal
    if isinstance(error, CibaProblem):
        extra["error"] = error.error_code  # the OAuth/CIBA code a client library expects
    response = problem(kind, error.detail or kind.title, **extra)
    retry_after = getattr(error, "retry_after_seconds", None)
    if isinstance(error, ServiceUnavailable | CibaProblem) and retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


# Errors Chalice answers itself (405 for a method a route lacks, 415 for a route's content types, its
# own 500), in its {"Code", "Message"} shape: re-issued as problem+json, with a fixed detail because
# Chalice's message quotes the request (a header value).
_OWN_ERRORS: dict[int, tuple[ProblemType, str]] = {
    400: (MALFORMED_REQUEST, "The request is malformed."),
    404: (ROUTE_NOT_FOUND, "No such resource."),
    405: (METHOD_NOT_ALLOWED, "This route does not accept this method."),
    415: (PROBLEMS[UnsupportedMediaType], "Send the body as application/json."),
}


def as_problem(response: Response) -> Response:
    """`response` itself, unless it is an error not in problem+json: then its problem+json form."""
    if response.status_code < 400:
        return response
    headers = {name.lower(): str(value) for name, value in response.headers.items()}
    if headers.get("content-type", "").split(";", 1)[0].strip() == PROBLEM_JSON:
        return response
    kind, detail = _OWN_ERRORS.get(response.status_code, (INTERNAL_ERROR, "An unexpected error occurred."))
    fixed = problem(kind, detail)
    if "allow" in headers:
        fixed.headers["Allow"] = headers["allow"]
    return fixed


def internal_error() -> Response:
    return problem(INTERNAL_ERROR, "An unexpected error occurred; it has been logged.")


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
