"""Each patient's access history: who accessed each of their records, from the pharmacy's own chain.

The patient's export (services/patients.py) answers "who looked at my test?" with, for each record,
the journal's events naming it: time, role, pharmacy, action, outcome. Only the pharmacy's own
chain is read (the caller's pharmacy: another pharmacy's events are on its own chain and never
read here), and only the events of the pharmacy's members (pharmacist, pharmacy_admin): a
platform decision or a system job on that chain is not a person looking at the test.

The pharmacist's identity: no pharmacy setting decides yet whether a patient may see which
pharmacist it was, so the privacy-preserving default applies to the staff: the role only, never
the username (`ACTOR_SHOWN`). A pharmacy that wants to name its staff needs a setting of its own,
and that setting would decide here.

Cost: the journal has no index by record id (one table keyed by chain and seq, and a local index
by chain and time), so the history is one read of the pharmacy's chain by time, from the oldest
record's creation to now, for all the patient's records at once: never one scan per record. It is
bounded at `HISTORY_MAX_EVENTS` events (pages of `HISTORY_PAGE`, i.e. at most 40 Query round trips
of 1 MiB at most each); beyond, the history says it is incomplete rather than read on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chalicelib.domain.model import RECORD_ROLES
from chalicelib.ports import AuditJournal

HISTORY_PAGE = 500
HISTORY_MAX_EVENTS = 20_000  # a busy pharmacy's ~two weeks of events, at most 40 pages
ACTOR_SHOWN = False  # the default without a pharmacy policy: the role, never the username
_MEMBER_ROLES = frozenset(role.value for role in RECORD_ROLES)


def _entry(event: dict[str, Any], finess: str) -> dict[str, Any]:
    entry = {
        "time": event.get("time"),
        "role": event.get("role"),
        "pharmacy": finess,
        "action": event.get("action"),
        "outcome": event.get("outcome"),
    }
    if ACTOR_SHOWN:
        entry["actor"] = event.get("actor")
    return entry


def _relevant(event: dict[str, Any], finess: str) -> bool:
    return event.get("finess") == finess and event.get("role") in _MEMBER_ROLES


def access_history(
    journal: AuditJournal,
    finess: str,
    record_ids: Iterable[str],
    *,
    since: datetime,
    until: datetime,
    max_events: int = HISTORY_MAX_EVENTS,
) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    """Each record's accesses, oldest first, and whether the whole window was read."""
    history: dict[str, list[dict[str, Any]]] = {record_id: [] for record_id in record_ids}
    if not history:
        return history, True
    read = 0
    cursor: str | None = None
    while True:
        page, cursor = journal.read(
            finess, start=since, end=until, limit=min(HISTORY_PAGE, max_events - read), cursor=cursor
        )
        read += len(page)
        for event in page:
            if not _relevant(event, finess):
                continue
            for record_id in event.get("record_ids") or ():
                if record_id in history:
                    history[record_id].append(_entry(event, finess))
        if cursor is None:
            return history, True
        if read >= max_events:
            return history, False
