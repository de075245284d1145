"""Errors the domain and services raise; the API maps each to one problem+json status.

Messages never carry a submitted personal value: they name fields and rules only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class ValidationFailed(DomainError):
    status = 400
    title = "Invalid request"

    def __init__(self, errors: list[FieldError], detail: str = "") -> None:
        super().__init__(detail or "The request has invalid fields.")
        self.errors = errors


class Unauthenticated(DomainError):
    status = 401
    title = "Unauthenticated"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"

    def __init__(self, detail: str = "", *, withdrawal: str | None = None) -> None:
        super().__init__(detail)
        # the route that withdraws the test instead (a cancel of an already sent test)
        self.withdrawal = withdrawal


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class ServiceUnavailable(DomainError):
    """A dependency (KMS, DynamoDB, the audit journal) failed; nothing was half-written."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str = "", retry_after_seconds: int = 5) -> None:
        super().__init__(detail or "A dependency is unavailable; retry later.")
        self.retry_after_seconds = retry_after_seconds


class IntegrityError(DomainError):
    """Stored data failed an integrity check (a blob moved to another record or pharmacy)."""

    status = 500
    title = "Integrity check failed"
