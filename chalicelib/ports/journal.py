"""The audit journal: appending an event with the changes it records, reading it, its public key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.ports.changes import Change


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for the audit journal."""

    request_id: str = ""
    source_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class PublishedKey:
    """The audit key's public key, as the checkpoint function published it."""

    key_id: str
    algorithm: str
    public_key_pem: str
    fingerprint: str


class AuditJournal(Protocol):
    def append(self, event: AuditEvent, changes: Sequence[Change] = ()) -> None:
        """Durably append, with `changes` in the same transaction; raises ServiceUnavailable if it
        cannot, or the failing change's `conflict()`: then nothing at all was written."""
        ...

    def read(
        self, finess: str, *, start: datetime | None, end: datetime | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def public_key(self) -> PublishedKey | None:
        """The checkpoint signing key's public part, as published by the checkpoint function."""
        ...
