"""Reading the audit journal: a pharmacy admin reads their own chain, and that read is journaled too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.model import Principal, Role
from chalicelib.services.access import audit, require_role
from chalicelib.services.ports import AuditJournal, RequestMeta

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
    assert caller.finess is not None
    audit(journal, caller, meta, "read_audit")
    return journal.read(caller.finess, start=start, end=end, limit=limit, cursor=cursor)
