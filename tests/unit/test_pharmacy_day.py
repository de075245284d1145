"""A pharmacy's day: its zone from its FINESS département, and the records' list day and "today"."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chalicelib.config import Settings
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.pharmacy_day import (
    FRENCH_ZONES,
    OVERSEAS_ZONES,
    PARIS,
    ZonesFromFiness,
    zone_of_finess,
)
from chalicelib.payloads import ListQuery, finess_with_check_digit
from chalicelib.ports import RequestMeta
from chalicelib.services import records
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeCipher,
    FakeIdempotency,
    FakeIndex,
    FakeJournal,
    FakeRepository,
    FixedClock,
    create_command,
)
from testkit.patients import screening_body

REUNION = finess_with_check_digit("97400001")
GUADELOUPE = finess_with_check_digit("97100001")
PARIS_FINESS = "750000010"
META = RequestMeta(request_id="req-1")


@pytest.mark.parametrize(
    ("prefix", "zone"),
    [
        ("75000001", "Europe/Paris"),
        ("2A000001", "Europe/Paris"),
        ("97100001", "America/Guadeloupe"),
        ("97200001", "America/Martinique"),
        ("97300001", "America/Cayenne"),
        ("97400001", "Indian/Reunion"),
        ("97500001", "America/Miquelon"),
        ("97600001", "Indian/Mayotte"),
        ("98700001", "Pacific/Tahiti"),
        ("98800001", "Pacific/Noumea"),
        ("98600001", "Pacific/Wallis"),
        ("97000001", "Europe/Paris"),  # no territory of its own
    ],
)
def test_a_pharmacy_s_zone_is_its_finess_departement_s(prefix: str, zone: str) -> None:
    assert zone_of_finess(finess_with_check_digit(prefix)) == zone


def test_every_french_zone_exists_in_the_time_zone_database() -> None:
    for name in FRENCH_ZONES:
        assert ZoneInfo(name).utcoffset(datetime(2026, 1, 1)) is not None
    assert set(OVERSEAS_ZONES.values()) <= set(FRENCH_ZONES) and PARIS in FRENCH_ZONES


def deps_at(moment: datetime) -> records.RecordsDeps:
    ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
    return records.RecordsDeps(
        repository=FakeRepository(),
        cipher=FakeCipher(),
        index=FakeIndex(),
        idempotency=FakeIdempotency(),
        journal=FakeJournal(),
        clock=FixedClock(moment),
        settings=Settings(),
        new_id=lambda: next(ids),
        zones=ZonesFromFiness(),
    )


def pharmacist(finess: str) -> Principal:
    return Principal(f"pharmacist-{finess}", Role.PHARMACIST, finess)


@pytest.mark.parametrize(
    ("finess", "moment", "today"),
    [
        # 23:30 in Réunion (UTC+4) is 20:30 in Paris; 00:30 in Réunion is still the eve in Paris
        (REUNION, "2026-11-29T23:30:00+04:00", "2026-11-29"),
        (REUNION, "2026-11-30T00:30:00+04:00", "2026-11-30"),
        # 23:30 in Guadeloupe (UTC-4) is 04:30 next day in Paris; 00:30 there is 05:30 in Paris
        (GUADELOUPE, "2026-11-29T23:30:00-04:00", "2026-11-29"),
        (GUADELOUPE, "2026-11-30T00:30:00-04:00", "2026-11-30"),
        # and mainland pharmacies around Paris's midnight
        (PARIS_FINESS, "2026-11-29T23:30:00+01:00", "2026-11-29"),
        (PARIS_FINESS, "2026-11-30T00:30:00+01:00", "2026-11-30"),
    ],
)
def test_today_is_the_pharmacy_s_day_around_its_midnight(finess: str, moment: str, today: str) -> None:
    deps = deps_at(datetime.fromisoformat(moment))
    assert records.pharmacy_today(deps, pharmacist(finess)).isoformat() == today


def test_a_test_near_midnight_lists_on_the_pharmacy_s_day_whatever_offset_the_client_sent() -> None:
    # sampled at 23:30 in Réunion, sent by the client in UTC (19:30Z) and in Paris time (20:30+01:00)
    deps = deps_at(datetime(2026, 11, 29, 20, 30, tzinfo=UTC))
    caller = pharmacist(REUNION)
    for sampled in ("2026-11-29T19:30:00Z", "2026-11-29T20:30:00+01:00"):
        records.create_record(
            deps, Call(caller, META), create_command(deps, screening_body(0, sampled_at=sampled))
        )
    # a test at 00:10 Réunion time, sent in Paris time (the eve, 21:10+01:00)
    late = records.create_record(
        deps,
        Call(caller, META),
        create_command(deps, screening_body(1, sampled_at="2026-11-29T21:10:00+01:00")),
    )
    assert late[0].day.isoformat() == "2026-11-30" and late[0].time_zone == "Indian/Reunion"
    today = records.pharmacy_today(deps, caller)  # 00:30 in Réunion: already the 30th
    assert today.isoformat() == "2026-11-30"
    listed = records.list_records(
        deps, Call(caller, META), ListQuery(day=today, status=None, limit=10, cursor=None)
    )
    assert [r.id for r in listed.items] == [late[0].id]
    eve = records.list_records(
        deps, Call(caller, META), ListQuery(day=today.replace(day=29), status=None, limit=10, cursor=None)
    )
    assert len(eve.items) == 2 and all(r.day.isoformat() == "2026-11-29" for r in eve.items)


def test_a_test_sampled_at_00_30_in_paris_sent_in_utc_lands_on_the_paris_day() -> None:
    deps = deps_at(datetime(2026, 11, 30, 0, 0, tzinfo=UTC))
    caller = pharmacist(PARIS_FINESS)
    record, _ = records.create_record(
        deps, Call(caller, META), create_command(deps, screening_body(0, sampled_at="2026-11-29T23:30:00Z"))
    )
    assert record.day.isoformat() == "2026-11-30"
    listed = records.list_records(
        deps, Call(caller, META), ListQuery(day=record.day, status=None, limit=10, cursor=None)
    )
    assert [r.id for r in listed.items] == [record.id]


def test_a_guadeloupe_evening_test_is_not_on_the_next_paris_day() -> None:
    # 21:00 in Guadeloupe is 02:00 the next day in Paris: the pharmacy's day stays the 29th
    deps = deps_at(datetime(2026, 11, 30, 1, 30, tzinfo=UTC))
    caller = pharmacist(GUADELOUPE)
    record, _ = records.create_record(
        deps,
        Call(caller, META),
        create_command(deps, screening_body(0, sampled_at="2026-11-30T02:00:00+01:00")),
    )
    assert record.day.isoformat() == "2026-11-29"
    assert records.pharmacy_today(deps, caller).isoformat() == "2026-11-29"
