"""The query strings of the API, declared once (chalicelib/schema.py): each parses its parameters into
a domain value and is what the OpenAPI document publishes as the route's query parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chalicelib.domain.model import RecordStatus
from chalicelib.domain.pharmacy_day import PARIS
from chalicelib.domain.stats import MAX_RANGE_DAYS, StatsQuery
from chalicelib.payloads.fields import (
    AUDIT_LIMIT,
    AUDIT_LIMIT_DEFAULT,
    CURSOR_PARAM,
    DAY,
    LIST_LIMIT,
    LIST_LIMIT_DEFAULT,
    QUERY_DAY,
    QUERY_END,
    QUERY_START,
    STATUS,
    Context,
    ZoneOnly,
    require_aware,
)
from chalicelib.schema import Field, Obj, Read


@dataclass(frozen=True)
class ListQuery:
    """GET /v1/tests query: the day listed (query parameter `date`), filters and paging."""

    day: date
    status: RecordStatus | None = None
    limit: int = LIST_LIMIT_DEFAULT
    cursor: str | None = None


@dataclass(frozen=True)
class AuditQuery:
    """GET /v1/audit query: an optional [from_, to] window (query `from`, `to`) and paging."""

    from_: datetime | None = None
    to: datetime | None = None
    limit: int = AUDIT_LIMIT_DEFAULT
    cursor: str | None = None


def _query(fields: list[Field], build: Any) -> Obj[Any]:
    return Obj(fields, build, noun="query parameter")


LIST_QUERY: Obj[dict[str, Any]] = _query(
    [
        Field(
            "date",
            DAY,
            required=False,
            description="A day of the pharmacy's time zone; by default its today.",
        ),
        Field("status", STATUS, required=False),
        Field("limit", LIST_LIMIT, required=False),
        Field("cursor", CURSOR_PARAM, required=False),
    ],
    lambda read: read.values,
)


def _audit_query(read: Read) -> AuditQuery:
    start, end = read["from"], read["to"]
    if start is not None and start > read.context.now:
        read.error("from", "must not be in the future")
    if start is not None and end is not None and start > end:
        read.error("from", "must not be later than to")
    limit = read["limit"]
    return AuditQuery(
        from_=start, to=end, limit=limit if limit is not None else AUDIT_LIMIT_DEFAULT, cursor=read["cursor"]
    )


AUDIT_QUERY: Obj[AuditQuery] = _query(
    [
        Field("from", QUERY_START, required=False),
        Field("to", QUERY_END, required=False),
        Field("limit", AUDIT_LIMIT, required=False),
        Field("cursor", CURSOR_PARAM, required=False),
    ],
    _audit_query,
)


def _stats_query(read: Read) -> StatsQuery | None:
    start, end = read["from"], read["to"]
    if start is None or end is None:
        return None
    if start > end:
        read.error("from", "must not be later than to")
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        read.error("to", f"the range may span at most {MAX_RANGE_DAYS} days")
    return StatsQuery(start, end)


STATS_QUERY: Obj[StatsQuery] = _query(
    [
        Field("from", QUERY_DAY),
        Field("to", QUERY_DAY, description=f"At most {MAX_RANGE_DAYS} days after from (inclusive range)."),
    ],
    _stats_query,
)


def parse_list_query(params: Mapping[str, str] | None, *, today: date) -> ListQuery:
    values = LIST_QUERY.parse(params if params is not None else {})
    limit = values["limit"]
    return ListQuery(
        day=values["date"] or today,
        status=values["status"],
        limit=limit if limit is not None else LIST_LIMIT_DEFAULT,
        cursor=values["cursor"],
    )


def parse_audit_query(params: Mapping[str, str] | None, *, now: datetime, zone: str = PARIS) -> AuditQuery:
    """`from` later than `now` is refused: such a window can only be a client's mistake. A date is
    a day of `zone` (the pharmacy's)."""
    require_aware(now)
    return AUDIT_QUERY.parse(params if params is not None else {}, Context(now=now, zone=zone))


def parse_stats_query(params: Mapping[str, str] | None, *, zone: str = PARIS) -> StatsQuery:
    """A date-time bound stands for its day in `zone` (the pharmacy's)."""
    return STATS_QUERY.parse(params if params is not None else {}, ZoneOnly(zone))
