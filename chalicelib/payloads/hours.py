"""A pharmacy's declared opening hours (a setting the journal's automatic review reads, docs/review.md):
the rule of a day's ranges, its kind, and the weekly object a settings body carries."""

from __future__ import annotations

from chalicelib.domain.errors import Rule
from chalicelib.domain.opening_hours import WEEKDAYS, format_hours_ranges, parse_hours_ranges
from chalicelib.schema import Field, Obj, fail, kind

# A day's opening hours: at most this many ranges (a lunch break makes two).
HOURS_RANGES_MAX = 4
HOURS_RANGES_FORMAT = Rule(
    "hours_ranges_format",
    "must be a list of at most {maximum} ranges HH:MM-HH:MM, each ending after it starts",
)


def _hours_ranges(value: object) -> list[str]:
    """["08:30-12:30", "14:00-19:30"], normalised (sorted, zero-padded); [] is a closed day."""
    if (
        not isinstance(value, list)
        or len(value) > HOURS_RANGES_MAX
        or not all(isinstance(v, str) for v in value)
    ):
        fail(HOURS_RANGES_FORMAT, maximum=HOURS_RANGES_MAX)
    try:
        return format_hours_ranges(parse_hours_ranges(value))
    except ValueError:
        fail(HOURS_RANGES_FORMAT, maximum=HOURS_RANGES_MAX)


HOURS_RANGES = kind(
    _hours_ranges,
    {
        "type": "array",
        "maxItems": HOURS_RANGES_MAX,
        "items": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$"},
    },
)

OPENING_HOURS: Obj[dict[str, list[str]]] = Obj(
    [Field(day, HOURS_RANGES, required=False) for day in WEEKDAYS],
    lambda read: {day: read[day] for day in WEEKDAYS if read[day]},
    name="OpeningHours",
    description="Per weekday, the ranges the pharmacy's staff work (HH:MM-HH:MM, in its time zone); a "
    "day not named is closed. The journal's automatic review alerts on activity outside them.",
)
