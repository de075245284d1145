"""A pharmacy's day: its time zone, derived once from its FINESS département. Pure.

A pharmacy lists, counts and keeps its records by its own calendar days: a test sampled at
00:30 in Réunion belongs to Réunion's day, whatever offset the client sent. The zone is fixed
when the pharmacy is onboarded (derived from the FINESS number's département, or given by the
platform admin) and stored with the pharmacy and with each of its records.

FINESS numbers start with the département: 01–95 and 2A/2B in mainland France and Corsica, then
97x and 98x overseas, where the third character completes the territory's code.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

PARIS = "Europe/Paris"

# Overseas territories by the first three characters of a FINESS number (their INSEE code).
OVERSEAS_ZONES: dict[str, str] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",  # Guyane
    "974": "Indian/Reunion",
    "975": "America/Miquelon",  # Saint-Pierre-et-Miquelon
    "976": "Indian/Mayotte",
    "977": "America/St_Barthelemy",
    "978": "America/Marigot",  # Saint-Martin
    "984": "Indian/Kerguelen",  # Terres australes et antarctiques françaises
    "986": "Pacific/Wallis",  # Wallis-et-Futuna
    "987": "Pacific/Tahiti",  # Polynésie française (main zone; the Marquesas and Gambier differ)
    "988": "Pacific/Noumea",  # Nouvelle-Calédonie
}
# The zones a pharmacy may be given at onboarding: France's, mainland and overseas, including the
# few a territory holds besides its main one.
FRENCH_ZONES: tuple[str, ...] = (
    PARIS,
    *OVERSEAS_ZONES.values(),
    "Pacific/Marquesas",
    "Pacific/Gambier",
)


def zone_of_finess(finess: str) -> str:
    """The zone of the FINESS number's département; mainland (Paris) when it is not overseas or
    is an overseas code without a territory of its own."""
    return OVERSEAS_ZONES.get(finess[:3], PARIS)


@lru_cache(maxsize=32)
def zone(name: str) -> tzinfo:
    """The tzinfo of one of FRENCH_ZONES (cached: zoneinfo reads its file once per process)."""
    return ZoneInfo(name)


def day_start(day: date, zone_name: str) -> datetime:
    """The first instant of `day` in the zone."""
    return datetime.combine(day, time.min, tzinfo=zone(zone_name))


def day_end(day: date, zone_name: str) -> datetime:
    """The last instant (microsecond) of `day` in the zone: an inclusive upper bound."""
    return day_start(day + timedelta(days=1), zone_name) - timedelta(microseconds=1)


def local_day(moment: datetime, zone_name: str) -> date:
    """The calendar day of `moment` (timezone-aware) in the zone."""
    return moment.astimezone(zone(zone_name)).date()


class ZonesFromFiness:
    """The PharmacyZones port from the FINESS number alone (no onboarding override): the default
    of services built without a pharmacy directory."""

    def time_zone(self, finess: str) -> str:
        return zone_of_finess(finess)
