"""A pharmacy's statistics, from record skeletons only (no personal field, no decryption). Pure.

Per day (the day the sample was taken, as the records listing uses):
    tests       records of the day that were not cancelled
    positive / negative / invalid / pending   their results (pending: no result yet)
    positivity  positive / (positive + negative), null when there is neither
and, over the range, the count of every delivery state (cancelled included), and the records
SI-DEP rejected by error code (code and category only), so that the pharmacy corrects them
(`GET /v1/tests?date=…&status=rejected` lists them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chalicelib.domain.delivery import rejection_of
from chalicelib.domain.model import DeliveryState, RecordStatus, ScreeningResult

MAX_RANGE_DAYS = 92  # a quarter: bounded work per request (one index query per day)


@dataclass(frozen=True)
class Skeleton:
    """What a record keeps for ever (until its skeleton expires): nothing personal."""

    status: RecordStatus
    result: ScreeningResult | None
    delivery_state: DeliveryState
    # A rejected record's stored reason (delivery.rejection_reason: codes, never SI-DEP's text).
    rejection: str | None = None


@dataclass(frozen=True)
class StatsQuery:
    start: date
    end: date

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def day_stats(day: date, skeletons: Iterable[Skeleton]) -> dict[str, Any]:
    counted = [s for s in skeletons if s.status is not RecordStatus.CANCELLED]
    results = Counter(s.result for s in counted)
    positive, negative = results[ScreeningResult.POSITIVE], results[ScreeningResult.NEGATIVE]
    conclusive = positive + negative
    return {
        "date": day.isoformat(),
        "tests": len(counted),
        "positive": positive,
        "negative": negative,
        "invalid": results[ScreeningResult.INVALID],
        "pending": results[None],
        "positivity": round(positive / conclusive, 4) if conclusive else None,
    }


def range_stats(finess: str, query: StatsQuery, per_day: Mapping[date, list[Skeleton]]) -> dict[str, Any]:
    days = [day_stats(day, per_day.get(day, [])) for day in query.days()]
    states = Counter(s.delivery_state for skeletons in per_day.values() for s in skeletons)
    keys = ("tests", "positive", "negative", "invalid", "pending")
    totals = {key: sum(d[key] for d in days) for key in keys}
    conclusive = totals["positive"] + totals["negative"]
    return {
        "finess": finess,
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "days": days,
        "totals": {**totals, "positivity": round(totals["positive"] / conclusive, 4) if conclusive else None},
        "delivery_states": {state.value: states[state] for state in DeliveryState},
        "rejections": rejections(s for skeletons in per_day.values() for s in skeletons),
    }


def rejections(skeletons: Iterable[Skeleton]) -> list[dict[str, Any]]:
    """Records SI-DEP rejected (and not corrected since), by error code."""
    counts = Counter(
        (view["code"], view["category"])
        for s in skeletons
        if s.delivery_state is DeliveryState.REJECTED
        for view in (rejection_of(s.rejection),)
    )
    return [
        {"code": code, "category": category, "records": n} for (code, category), n in sorted(counts.items())
    ]
