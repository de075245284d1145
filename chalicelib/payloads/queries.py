"""The query strings of the API, declared once (chalicelib/schema.py): each parses its parameters into
a domain value and is what the OpenAPI document publishes as the route's query parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from chalicelib.domain.errors import Rule
from chalicelib.domain.model import RecordStatus
from chalicelib.domain.pharmacy_day import PARIS, day_end, day_start, local_day
from chalicelib.domain.stats import MAX_RANGE_DAYS, StatsQuery
from chalicelib.payloads.fields import (
    ALERTS_LIMIT,
    ALERTS_LIMIT_DEFAULT,
    AUDIT_LIMIT,
    AUDIT_LIMIT_DEFAULT,
    CURSOR_PARAM,
    DAY,
    IN_THE_FUTURE,
    LIST_LIMIT,
    LIST_LIMIT_DEFAULT,
    NOT_A_BOOLEAN,
    QUERY_TIME,
    STATUS,
    Context,
    require_aware,
)
from chalicelib.schema import Field, Kind, Obj, Pattern, Read, Schema, fail, kind, string

# --- the rules of the queries (a parameter's own are its kind's, fields.py), each with its code ---

NOT_A_BOUND = Rule(
    "not_a_date_or_datetime",
    "must be a date (YYYY-MM-DD) or an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)",
)
OUT_OF_RANGE = Rule("date_out_of_range", "is outside the range of dates the API accepts")
FROM_AFTER_TO = Rule("from_after_to", "must not be later than to")
RANGE_TOO_LONG = Rule("range_too_long", "the range may span at most {days} days")

# --- query bounds: a date or an RFC 3339 date-time, a date a day of the pharmacy's time zone ---

_T = TypeVar("_T")


class ZoneOnly:
    """The context of a query whose rules need only the pharmacy's time zone (the stats' days)."""

    __slots__ = ("zone",)

    def __init__(self, zone: str = PARIS) -> None:
        self.zone = zone


_DAY_ONLY = Pattern("[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _query_bound(value: object) -> date | datetime:
    """A query's bound: a date (a day of the pharmacy's time zone) or an RFC 3339 date-time."""
    text = string(value)
    if _DAY_ONLY.matches(text):
        return DAY.parse(text, None)
    if "T" not in text.upper() and " " not in text:
        fail(NOT_A_BOUND)
    return QUERY_TIME.parse(text, None)


def _bound_start(value: object, context: Context) -> datetime:
    bound = _query_bound(value)
    return bound if isinstance(bound, datetime) else _in_range(day_start, bound, context.zone)


def _bound_end(value: object, context: Context) -> datetime:
    bound = _query_bound(value)
    return bound if isinstance(bound, datetime) else _in_range(day_end, bound, context.zone)


def _bound_day(value: object, context: Context | ZoneOnly) -> date:
    bound = _query_bound(value)
    return _in_range(local_day, bound, context.zone) if isinstance(bound, datetime) else bound


def _in_range(convert: Callable[[Any, str], _T], value: Any, zone_name: str) -> _T:
    """`convert` in the zone, at the edges of the calendar too (0001-01-01 in Paris starts in year
    0 in UTC; 9999-12-31 has no next day): outside the range is the client's error, never a 500."""
    try:
        converted = convert(value, zone_name)
        if isinstance(converted, datetime):
            converted.astimezone(UTC)
    except (OverflowError, ValueError):
        fail(OUT_OF_RANGE)
    return converted


def _bound_schema(meaning: str) -> Schema:
    return {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "description": f"A date (YYYY-MM-DD) or an RFC 3339 date-time; {meaning}",
    }


# Every query bound takes a date or a date-time, a date being a day of the pharmacy's time zone.
QUERY_START = Kind(
    _bound_start, _bound_schema("a date is the start of that day in the pharmacy's time zone.")
)
QUERY_END = Kind(
    _bound_end, _bound_schema("a date is inclusive: up to the end of that day in the pharmacy's time zone.")
)
QUERY_DAY = Kind(
    _bound_day, _bound_schema("a date-time stands for its day in the pharmacy's time zone (inclusive).")
)


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
        read.error("from", IN_THE_FUTURE)
    if start is not None and end is not None and start > end:
        read.error("from", FROM_AFTER_TO)
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
        read.error("from", FROM_AFTER_TO)
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        read.error("to", RANGE_TOO_LONG, days=MAX_RANGE_DAYS)
    return StatsQuery(start, end)


STATS_QUERY: Obj[StatsQuery] = _query(
    [
        Field("from", QUERY_DAY),
        Field("to", QUERY_DAY, description=f"At most {MAX_RANGE_DAYS} days after from (inclusive range)."),
    ],
    _stats_query,
)


def _query_flag(value: object) -> bool:
    text = string(value)
    if text not in ("true", "false"):
        fail(NOT_A_BOOLEAN)
    return text == "true"


QUERY_FLAG = kind(_query_flag, {"type": "boolean"})


@dataclass(frozen=True)
class AlertsQuery:
    """GET /v1/admin/pharmacies/{finess}/alerts query."""

    include_acknowledged: bool = False
    limit: int = ALERTS_LIMIT_DEFAULT


ALERTS_QUERY: Obj[AlertsQuery] = _query(
    [
        Field(
            "include_acknowledged",
            QUERY_FLAG,
            required=False,
            description="true: the acknowledged alerts too; by default only those nobody acknowledged.",
        ),
        Field("limit", ALERTS_LIMIT, required=False, description="The newest this many (default 50)."),
    ],
    lambda read: AlertsQuery(
        include_acknowledged=bool(read["include_acknowledged"]),
        limit=read["limit"] if read["limit"] is not None else ALERTS_LIMIT_DEFAULT,
    ),
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


def parse_alerts_query(params: Mapping[str, str] | None) -> AlertsQuery:
    return ALERTS_QUERY.parse(params if params is not None else {})
