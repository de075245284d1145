"""A pharmacy's statistics for its pharmacy_admin, from record skeletons only (never decrypted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.model import Role
from chalicelib.domain.stats import StatsQuery, range_stats
from chalicelib.ports import AuditJournal, RetentionStore
from chalicelib.services.access import own_pharmacy, require_role
from chalicelib.services.call import Call

STATS_ROLES = frozenset({Role.PHARMACY_ADMIN})


@dataclass(frozen=True)
class StatsDeps:
    store: RetentionStore
    journal: AuditJournal


def admit(deps: StatsDeps, call: Call) -> None:
    """The statistics' role check (a refusal journaled), for a view to run before it answers a
    malformed query (chalicelib/api/context.admitted_then_parsed)."""
    require_role(deps.journal, call, "read_stats", STATS_ROLES)


def read_stats(deps: StatsDeps, call: Call, query: StatsQuery) -> dict[str, Any]:
    require_role(deps.journal, call, "read_stats", STATS_ROLES)
    finess = own_pharmacy(deps.journal, call, "read_stats")
    per_day = {day: deps.store.day_skeletons(finess, day) for day in query.days()}
    call.audit(deps.journal).record(
        "read_stats", reason=f"{query.start.isoformat()}..{query.end.isoformat()}"
    )
    return range_stats(finess, query, per_day)
