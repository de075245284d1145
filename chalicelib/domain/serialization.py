"""The times the domain stores (iso_utc, stored_moment). The patient sealed in a record's blob has
its own versioned codec (chalicelib/adapters/patient_blob.py), and each API body is rendered from
its declaration (chalicelib/payloads/responses.py): a new API field cannot change the stored format."""

from __future__ import annotations

from datetime import UTC as _UTC
from datetime import datetime


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second, the form of every stored and served timestamp."""
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# What a watcher takes an unreadable stored time for: the oldest moment, so its age alarms.
UNREADABLE_MOMENT = datetime(1970, 1, 1, tzinfo=_UTC)


def stored_moment(text: object) -> datetime:
    """A stored time as a watcher measures an age from it (aware, UTC). A value that is no time
    with its offset (one crafted or damaged item) is UNREADABLE_MOMENT: the oldest, so the age
    alarms, instead of the exception that would stop the watcher for every other item."""
    try:
        moment = parse_iso(str(text))
        return moment.astimezone(_UTC) if moment.tzinfo is not None else UNREADABLE_MOMENT
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved to UTC
        return UNREADABLE_MOMENT
