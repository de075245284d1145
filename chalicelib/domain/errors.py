"""Errors the domain and services raise: what went wrong, in words for the caller.

Which HTTP status and title each one is belongs to the edge (chalicelib/api/problems.py).
Messages never carry a submitted personal value: they name fields and rules only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or type(self).__name__)
        self.detail = detail  # may be empty: the edge then says its title


class ValidationFailed(DomainError):
    def __init__(self, errors: list[FieldError], detail: str = "") -> None:
        super().__init__(detail or "The request has invalid fields.")
        self.errors = errors


class Unauthenticated(DomainError):
    pass


class Forbidden(DomainError):
    pass


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    def __init__(self, detail: str = "", *, withdrawal: str | None = None) -> None:
        super().__init__(detail)
        # the route that withdraws the test instead (a cancel of an already sent test)
        self.withdrawal = withdrawal


class ServiceUnavailable(DomainError):
    """A dependency (KMS, DynamoDB, the audit journal) failed; nothing was half-written."""

    def __init__(self, detail: str = "", retry_after_seconds: int = 5) -> None:
        super().__init__(detail or "A dependency is unavailable; retry later.")
        self.retry_after_seconds = retry_after_seconds  # when a retry may succeed


class IntegrityError(DomainError):
    """Stored data failed an integrity check (a blob moved to another record or pharmacy)."""
