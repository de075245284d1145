"""Reading the audit journal: a pharmacy admin reads their own chain, and that read is journaled too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import AuditJournal, PublishedKey, RequestMeta
from chalicelib.services.access import audit, own_pharmacy, require_role

AUDIT_READERS = frozenset({Role.PHARMACY_ADMIN})


def read_audit(
    journal: AuditJournal,
    caller: Principal,
    meta: RequestMeta,
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    require_role(journal, caller, meta, "read_audit", AUDIT_READERS)
    finess = own_pharmacy(journal, caller, meta, "read_audit")
    audit(journal, caller, meta, "read_audit")
    return journal.read(finess, start=start, end=end, limit=limit, cursor=cursor)


def read_public_key(journal: AuditJournal, caller: Principal, meta: RequestMeta) -> PublishedKey:
    """The audit key's public key as the checkpoint function published it (503 before its first run)."""
    require_role(journal, caller, meta, "read_audit_public_key", AUDIT_READERS)
    published = journal.public_key()
    if published is None:
        raise ServiceUnavailable("The audit public key is not published yet; retry after the next run.")
    audit(journal, caller, meta, "read_audit_public_key")
    return published
