"""A pharmacy's statistics for its pharmacy_admin, from record skeletons only (never decrypted)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.model import Principal, Role
from chalicelib.domain.stats import range_stats
from chalicelib.payloads import parse_stats_query
from chalicelib.ports import AuditJournal, RequestMeta, RetentionStore
from chalicelib.services.access import audit, own_pharmacy, require_role

STATS_ROLES = frozenset({Role.PHARMACY_ADMIN})


@dataclass(frozen=True)
class StatsDeps:
    store: RetentionStore
    journal: AuditJournal


def read_stats(
    deps: StatsDeps, caller: Principal, meta: RequestMeta, params: Mapping[str, str] | None
) -> dict[str, Any]:
    require_role(deps.journal, caller, meta, "read_stats", STATS_ROLES)
    finess = own_pharmacy(deps.journal, caller, meta, "read_stats")
    query = parse_stats_query(params)
    per_day = {day: deps.store.day_skeletons(finess, day) for day in query.days()}
    audit(
        deps.journal, caller, meta, "read_stats", reason=f"{query.start.isoformat()}..{query.end.isoformat()}"
    )
    return range_stats(finess, query, per_day)
