"""Reading the audit journal: a pharmacy admin reads their own chain, and that read is journaled too."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.model import Role
from chalicelib.payloads import AuditQuery
from chalicelib.ports import AuditJournal, PublishedKey
from chalicelib.services.access import own_pharmacy, require_role
from chalicelib.services.call import Call

AUDIT_READERS = frozenset({Role.PHARMACY_ADMIN})


def admit_reader(journal: AuditJournal, call: Call) -> None:
    """The journal's role check (a refusal journaled), for a view to run before it answers a
    malformed query (chalicelib/api/context.admitted_then_parsed)."""
    require_role(journal, call, "read_audit", AUDIT_READERS)


def read_audit(
    journal: AuditJournal, call: Call, query: AuditQuery
) -> tuple[list[dict[str, Any]], str | None]:
    require_role(journal, call, "read_audit", AUDIT_READERS)
    finess = own_pharmacy(journal, call, "read_audit")
    call.audit(journal).record("read_audit")
    return journal.read(finess, start=query.from_, end=query.to, limit=query.limit, cursor=query.cursor)


def read_public_key(journal: AuditJournal, call: Call) -> PublishedKey:
    """The audit key's public key as the checkpoint function published it (503 before its first run)."""
    require_role(journal, call, "read_audit_public_key", AUDIT_READERS)
    published = journal.public_key()
    if published is None:
        raise ServiceUnavailable("The audit public key is not published yet; retry after the next run.")
    call.audit(journal).record("read_audit_public_key")
    return published
