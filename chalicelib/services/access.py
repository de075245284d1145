"""Who may do what: role checks in the service layer, and the audit trail of every decision."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.errors import Forbidden
from chalicelib.domain.model import RECORD_ROLES, Principal, Role
from chalicelib.ports import AuditJournal, Change, RequestMeta


def audit(
    journal: AuditJournal,
    caller: Principal | None,
    meta: RequestMeta,
    action: str,
    *,
    outcome: str = "success",
    record_ids: Sequence[str] = (),
    finess: str | None = None,
    reason: str = "",
    changes: Sequence[Change] = (),
) -> None:
    """Append one event, with `changes` in the same transaction; raises ServiceUnavailable if the
    journal cannot take it (then none of the changes was made either)."""
    journal.append(
        AuditEvent(
            action=action,
            outcome=outcome,
            actor=caller.username if caller else "anonymous",
            role=caller.role.value if caller else "",
            finess=finess if finess is not None else (caller.finess if caller else None),
            record_ids=tuple(record_ids),
            request_id=meta.request_id,
            source_ip=meta.source_ip,
            user_agent=meta.user_agent,
            reason=reason,
        ),
        changes,
    )


def require_role(
    journal: AuditJournal, caller: Principal, meta: RequestMeta, action: str, allowed: frozenset[Role]
) -> None:
    if caller.role not in allowed:
        audit(journal, caller, meta, action, outcome="denied", reason="role")
        raise Forbidden("Your role does not allow this.")


def own_pharmacy(journal: AuditJournal, caller: Principal, meta: RequestMeta, action: str) -> str:
    """The pharmacy a pharmacy role acts for. Its membership always names one; a caller whose does
    not is refused (and the refusal journaled): never read as "no pharmacy filter"."""
    if not caller.finess:
        audit(journal, caller, meta, action, outcome="denied", reason="no pharmacy")
        raise Forbidden("Your membership names no pharmacy.")
    return caller.finess


def pharmacy_of(journal: AuditJournal, caller: Principal, meta: RequestMeta, action: str) -> str:
    """The caller's own pharmacy, for record routes; platform admins read no health data."""
    require_role(journal, caller, meta, action, RECORD_ROLES)
    return own_pharmacy(journal, caller, meta, action)
