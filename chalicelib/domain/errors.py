"""Errors the domain and services raise: what went wrong, in words for the caller.

Which HTTP status, title and problem type each one is belongs to the edge (chalicelib/api/problems.py).
Messages never carry a submitted personal value: they name fields and rules only.

A field's error carries the stable `code` of the rule it broke (`Rule`): an app switches on it and
localises it (docs/errors.md), whatever the English message says. Each rule is declared once, where
it is checked (the payload declarations, chalicelib/payloads/; the NIR's in domain/nir.py; the few
the storage and the batch check, below); declaring it registers it, so the API document and the
tests list exactly the rules that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class Rule:
    """A rule a field can break: its stable machine code and its English message (a template whose
    `{name}` parameters are declared constants, never a submitted value)."""

    __slots__ = ("code", "message")
    declared: ClassVar[dict[str, Rule]] = {}  # every rule, by code, as its module declares it

    def __init__(self, code: str, message: str) -> None:
        if code in Rule.declared:
            raise ValueError(f"the rule {code!r} is declared twice")  # one declaration per code
        self.code = code
        self.message = message
        Rule.declared[code] = self

    def at(self, field: str, **params: object) -> FieldError:
        """This rule's error for `field` (a dotted path or a JSON pointer)."""
        return FieldError(field, self.message.format(**params), self.code)

    def __repr__(self) -> str:
        return f"Rule({self.code!r})"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    code: str  # the rule's (Rule.code): what an app switches on and translates


# Rules the storage and the batch check (the adapters and services import no payload declaration).
CURSOR_NOT_ISSUED = Rule("cursor_not_issued", "is not a cursor this API issued")
CURSOR_OF_ANOTHER_LISTING = Rule("cursor_of_another_listing", "is not a cursor of this listing")
CURSOR_OF_ANOTHER_WINDOW = Rule("cursor_of_another_window", "does not belong to this time window")
KEY_REUSED = Rule("idempotency_key_reused", "was used with another body")
UPLOAD_REPLACED = Rule("upload_replaced", "was replaced while it was processed")
UPLOAD_TOO_LARGE = Rule("upload_too_large", "is larger than {limit} bytes")
UPLOADER_REVOKED = Rule(
    "uploader_revoked", "was uploaded by a member who no longer records this pharmacy's tests"
)


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


class ConflictReason(StrEnum):
    """Why a request conflicts with the state it meets: each reason is its own problem type at the
    edge, so an app can tell a retry-able race from a rule (chalicelib/api/problems.py)."""

    CONFLICT = "conflict"  # none more precise
    CHANGED_MEANWHILE = "changed_meanwhile"  # another change won the race: reload and retry
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RECORD_EXISTS = "record_exists"
    ALREADY_SENT = "already_sent"  # carries `withdrawal`
    NEVER_SENT = "never_sent"
    CANCELLED = "cancelled"
    ERASED = "erased"
    PHARMACY_EXISTS = "pharmacy_exists"
    ALREADY_MEMBER = "already_member"
    PHARMACY_HAS_ADMIN = "pharmacy_has_admin"
    PSC_REQUIRED = "psc_required"
    PSC_ADMIN_NEEDED = "psc_admin_needed"
    SELF_REVOCATION = "self_revocation"
    NO_PENDING_INVITATION = "no_pending_invitation"


class Conflict(DomainError):
    def __init__(
        self,
        detail: str = "",
        *,
        reason: ConflictReason = ConflictReason.CONFLICT,
        withdrawal: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        # the route that withdraws the test instead (a cancel of an already sent test)
        self.withdrawal = withdrawal


class ServiceUnavailable(DomainError):
    """A dependency (KMS, DynamoDB, the audit journal) failed; nothing was half-written."""

    def __init__(self, detail: str = "", retry_after_seconds: int = 5) -> None:
        super().__init__(detail or "A dependency is unavailable; retry later.")
        self.retry_after_seconds = retry_after_seconds  # when a retry may succeed


class IntegrityError(DomainError):
    """Stored data failed an integrity check (a blob moved to another record or pharmacy)."""
