"""One request as the use cases see it: who asks (`Call`), and the journal bound to that request and
the actor its events name (`Audit`).

A view builds the Call from what the middleware verified (chalicelib/api/context.py) and hands it,
with the typed command it parsed (chalicelib/domain/commands.py), to one use case. A request made
before anyone is identified (a Pro Santé Connect login's start and polls, the authentication itself)
has no Call: those use cases take the RequestMeta alone and journal through an Audit whose actor is
the member the request turns out to concern, or nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.model import Principal
from chalicelib.ports import AuditJournal, Change, RequestMeta

SUCCESS = "success"
DENIED = "denied"


@dataclass(frozen=True)
class Audit:
    """Appends the events of one request: `actor` None is "anonymous", and an event's chain is
    `finess` when given, else the actor's pharmacy (none: the platform's chain)."""

    journal: AuditJournal
    meta: RequestMeta = field(default_factory=RequestMeta)
    actor: Principal | None = None

    def by(self, actor: Principal | None) -> Audit:
        """The same request's events, naming another actor (a login's member once known)."""
        return replace(self, actor=actor)

    def record(
        self,
        action: str,
        *,
        outcome: str = SUCCESS,
        record_ids: Sequence[str] = (),
        finess: str | None = None,
        reason: str = "",
        changes: Sequence[Change] = (),
    ) -> None:
        """Append one event, with `changes` in the same transaction; raises ServiceUnavailable if the
        journal cannot take it (then none of the changes was made either)."""
        actor = self.actor
        self.journal.append(
            AuditEvent(
                action=action,
                outcome=outcome,
                actor=actor.username if actor else "anonymous",
                role=actor.role.value if actor else "",
                finess=finess if finess is not None else (actor.finess if actor else None),
                record_ids=tuple(record_ids),
                request_id=self.meta.request_id,
                source_ip=self.meta.source_ip,
                user_agent=self.meta.user_agent,
                reason=reason,
            ),
            changes,
        )

    def deny(
        self, action: str, reason: str, *, record_ids: Sequence[str] = (), finess: str | None = None
    ) -> None:
        """A refusal, with its reason (never a value the caller sent)."""
        self.record(action, outcome=DENIED, record_ids=record_ids, finess=finess, reason=reason)


@dataclass(frozen=True)
class Call:
    """An authenticated request: the caller the middleware verified, and where the request came from."""

    caller: Principal
    meta: RequestMeta = field(default_factory=RequestMeta)

    def audit(self, journal: AuditJournal) -> Audit:
        """The journal, bound to this request: its events name the caller."""
        return Audit(journal, self.meta, self.caller)
