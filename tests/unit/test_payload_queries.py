"""The query strings: a day's list and the audit journal's window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.model import RecordStatus
from chalicelib.domain.stats import StatsQuery
from chalicelib.payloads import (
    AuditQuery,
    ListQuery,
    parse_audit_query,
    parse_list_query,
    parse_stats_query,
)
from tests.unit.payload_cases import NOW, TODAY


def test_list_query_defaults() -> None:
    assert parse_list_query(None, today=TODAY) == ListQuery(day=TODAY, status=None, limit=50, cursor=None)
    assert parse_list_query({}, today=TODAY) == ListQuery(day=TODAY)


def test_list_query_values() -> None:
    query = parse_list_query(
        {"date": "2026-11-01", "status": "sent", "limit": "100", "cursor": "eyJrIjoxfQ=="}, today=TODAY
    )
    assert query == ListQuery(
        day=date(2026, 11, 1), status=RecordStatus.SENT, limit=100, cursor="eyJrIjoxfQ=="
    )
    assert parse_list_query({"limit": "1", "cursor": "a-b_c"}, today=TODAY).limit == 1


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"date": "29/11/2026"}, {"date": "must be a date in the form YYYY-MM-DD"}),
        ({"date": ""}, {"date": "must be a date in the form YYYY-MM-DD"}),
        (
            {"status": "lost"},
            {"status": "must be one of: pending, ready, sent, acknowledged, rejected, cancelled"},
        ),
        ({"limit": "0"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "101"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "-5"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "ten"}, {"limit": "must be an integer from 1 to 100"}),
        ({"limit": "１０"}, {"limit": "must be an integer from 1 to 100"}),  # fullwidth digits
        ({"limit": "9" * 5000}, {"limit": "must be an integer from 1 to 100"}),
        ({"cursor": "a+b/c"}, {"cursor": "is not a valid cursor"}),
        ({"cursor": ""}, {"cursor": "is not a valid cursor"}),
        ({"cursor": "a" * 2049}, {"cursor": "must be at most 2048 characters"}),
        (
            {"sort": "asc", "finess": "750000010"},
            {"sort": "is not an allowed query parameter", "finess": "is not an allowed query parameter"},
        ),
    ],
)
def test_refused_list_queries(params: dict[str, str], errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_list_query(params, today=TODAY)
    assert {e.field: e.message for e in caught.value.errors} == errors


def test_list_query_accepts_a_cursor_of_maximum_length() -> None:
    assert parse_list_query({"cursor": "a" * 2048}, today=TODAY).cursor == "a" * 2048


def test_audit_query_defaults_and_values() -> None:
    assert parse_audit_query(None, now=NOW) == AuditQuery(from_=None, to=None, limit=100, cursor=None)
    query = parse_audit_query(
        {"from": "2026-11-01T00:00:00Z", "to": "2026-11-29T13:00:00+01:00", "limit": "500", "cursor": "abc"},
        now=NOW,
    )
    assert query.from_ == datetime(2026, 11, 1, tzinfo=UTC)
    assert query.to == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert (query.limit, query.cursor) == (500, "abc")


def test_audit_query_reads_an_unencoded_plus_in_the_offset() -> None:
    # "+01:00" sent unencoded in a query string arrives as " 01:00"
    query = parse_audit_query({"from": "2026-11-29T10:00:00 01:00"}, now=NOW)
    assert query.from_ == datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"from": "2026-11-01T00:00:00"}, {"from": "must include a time zone offset (Z or ±hh:mm)"}),
        (
            {"to": "01/11/2026"},
            {"to": "must be a date (YYYY-MM-DD) or an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)"},
        ),
        ({"to": "2026-02-30"}, {"to": "is not a valid calendar date"}),
        ({"from": "2026-11-29", "to": "2026-11-28"}, {"from": "must not be later than to"}),
        ({"from": "2026-11-30"}, {"from": "must not be in the future"}),
        (
            {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            {"from": "must not be later than to"},
        ),
        ({"from": "2026-11-30T00:00:00Z"}, {"from": "must not be in the future"}),
        ({"limit": "501"}, {"limit": "must be an integer from 1 to 500"}),
        ({"date": "2026-11-01"}, {"date": "is not an allowed query parameter"}),
    ],
)
def test_refused_audit_queries(params: dict[str, str], errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_audit_query(params, now=NOW)
    assert {e.field: e.message for e in caught.value.errors} == errors


def test_an_audit_date_is_a_day_of_the_pharmacy_s_zone_from_its_start_to_its_inclusive_end() -> None:
    query = parse_audit_query({"from": "2026-11-01", "to": "2026-11-28"}, now=NOW, zone="Europe/Paris")
    assert query.from_ == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert query.to == datetime(2026, 11, 28, 22, 59, 59, 999999, tzinfo=UTC)
    reunion = parse_audit_query({"from": "2026-11-01", "to": "2026-11-01"}, now=NOW, zone="Indian/Reunion")
    assert reunion.from_ == datetime(2026, 10, 31, 20, 0, tzinfo=UTC)
    assert reunion.to == datetime(2026, 11, 1, 19, 59, 59, 999999, tzinfo=UTC)


def test_an_audit_query_mixes_a_date_and_a_date_time() -> None:
    query = parse_audit_query({"from": "2026-11-01", "to": "2026-11-02T08:00:00Z"}, now=NOW)
    assert (query.from_, query.to) == (
        datetime(2026, 10, 31, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
    )


def test_stats_take_a_date_time_as_its_day_in_the_pharmacy_s_zone() -> None:
    # 23:30 UTC on 30 November is already 1 December in Paris
    query = parse_stats_query({"from": "2026-11-30T23:30:00Z", "to": "2026-12-06"}, zone="Europe/Paris")
    assert query == StatsQuery(date(2026, 12, 1), date(2026, 12, 6))
    assert parse_stats_query(
        {"from": "2026-11-30T23:30:00Z", "to": "2026-12-06"}, zone="America/Cayenne"
    ) == (StatsQuery(date(2026, 11, 30), date(2026, 12, 6)))


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-11-01T10:00:00", "2026-11-01T25:00:00Z"])
def test_a_refused_bound_names_its_field_and_echoes_nothing(bad: str) -> None:
    for parse in (lambda p: parse_audit_query(p, now=NOW), parse_stats_query):
        with pytest.raises(ValidationFailed) as caught:
            parse({"from": bad, "to": "2026-11-29"})
        assert [e.field for e in caught.value.errors] == ["from"]
        assert bad not in str(caught.value.errors[0].message)
