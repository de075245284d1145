"""Who may do what: role checks in the service layer, each refusal journaled (services/call.py)."""

from __future__ import annotations

from chalicelib.domain.errors import Forbidden
from chalicelib.domain.model import RECORD_ROLES, Role
from chalicelib.ports import AuditJournal
from chalicelib.services.call import Call


def require_role(journal: AuditJournal, call: Call, action: str, allowed: frozenset[Role]) -> None:
    if call.caller.role not in allowed:
        call.audit(journal).deny(action, "role")
        raise Forbidden("Your role does not allow this.")


def own_pharmacy(journal: AuditJournal, call: Call, action: str) -> str:
    """The pharmacy a pharmacy role acts for. Its membership always names one; a caller whose does
    not is refused (and the refusal journaled): never read as "no pharmacy filter"."""
    if not call.caller.finess:
        call.audit(journal).deny(action, "no pharmacy")
        raise Forbidden("Your membership names no pharmacy.")
    return call.caller.finess


def pharmacy_of(journal: AuditJournal, call: Call, action: str) -> str:
    """The caller's own pharmacy, for record routes; platform admins read no health data."""
    require_role(journal, call, action, RECORD_ROLES)
    return own_pharmacy(journal, call, action)
