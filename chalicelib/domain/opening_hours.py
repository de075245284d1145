"""A pharmacy's declared opening hours (a pharmacy setting, PUT /v1/admin/pharmacies/{finess}/settings):
per weekday, the ranges its staff work, in its time zone. The journal's review alerts on activity
outside them (chalicelib/domain/access_review.py); none declared, no such alert."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.pharmacy_day import zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OpeningHours:
    """A pharmacy's declared hours: per weekday (0 Monday), (start, end) minutes of the local day."""

    time_zone: str
    days: tuple[tuple[tuple[int, int], ...], ...]  # 7 entries

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(zone(self.time_zone))
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.days[local.weekday()])


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError("a time is HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 24 * 60:
        raise ValueError("a time is HH:MM, from 00:00 to 24:00")
    return value


def parse_hours_ranges(ranges: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """["08:30-12:30", "14:00-19:30"] -> ((510, 750), (840, 1170)); ValueError if malformed."""
    parsed = []
    for text in ranges:
        start, sep, end = str(text).partition("-")
        if not sep:
            raise ValueError("a range is HH:MM-HH:MM")
        first, last = _minutes(start), _minutes(end)
        if first >= last:
            raise ValueError("a range ends after it starts")
        parsed.append((first, last))
    return tuple(sorted(parsed))


def format_hours_ranges(ranges: Iterable[tuple[int, int]]) -> list[str]:
    return [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in ranges]


def opening_hours(declared: Mapping[str, Iterable[str]] | None, time_zone: str) -> OpeningHours | None:
    """The hours a pharmacy declared ({"mon": ["08:30-19:30"], ...}; a day not named is closed);
    None when it declared none (the detector is off)."""
    if declared is None:
        return None
    return OpeningHours(time_zone, tuple(parse_hours_ranges(declared.get(day, ())) for day in WEEKDAYS))
