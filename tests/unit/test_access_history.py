"""The access history's reading of the journal: one read of the pharmacy's chain for all the
patient's records, members' events only, bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.services.access_history import access_history
from testkit.fakes import FakeJournal

A = "750000010"
SINCE, UNTIL = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)


class PagedJournal(FakeJournal):
    """A chain of events as the journal shows them, read by pages; counts the reads."""

    def __init__(self, shown: list[dict[str, Any]]) -> None:
        super().__init__()
        self.shown = shown
        self.reads: list[tuple[str, int]] = []

    def read(
        self, finess: str, *, start: datetime | None, end: datetime | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.reads.append((finess, limit))
        at = int(cursor or 0)
        chain = [e for e in self.shown if e["finess"] == finess]
        page = chain[at : at + limit]
        more = at + limit < len(chain)
        return page, str(at + limit) if more else None


def event(i: int, record: str, role: str = "pharmacist", finess: str = A) -> dict[str, Any]:
    return {
        "time": f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}.000000Z",
        "actor": f"user-{i}",
        "role": role,
        "finess": finess,
        "action": "read",
        "outcome": "success",
        "record_ids": [record],
    }


def test_one_paged_read_of_the_chain_serves_every_record_and_shows_no_username() -> None:
    journal = PagedJournal([event(i, f"r{i % 3}") for i in range(1200)])
    history, complete = access_history(journal, A, ["r0", "r1"], since=SINCE, until=UNTIL)
    assert complete and len(history["r0"]) == 400 and len(history["r1"]) == 400
    assert len(journal.reads) == 3 and {f for f, _ in journal.reads} == {A}  # 1200 events, pages of 500
    assert all("actor" not in entry for entry in history["r0"])


def test_platform_and_system_events_on_the_chain_are_not_a_member_access() -> None:
    journal = PagedJournal(
        [event(1, "r0"), event(2, "r0", role="platform_admin"), event(3, "r0", role="system")]
    )
    history, _ = access_history(journal, A, ["r0"], since=SINCE, until=UNTIL)
    assert [entry["role"] for entry in history["r0"]] == ["pharmacist"]


def test_the_read_stops_at_its_bound_and_says_the_history_is_incomplete() -> None:
    journal = PagedJournal([event(i, "r0") for i in range(1200)])
    history, complete = access_history(journal, A, ["r0"], since=SINCE, until=UNTIL, max_events=700)
    assert not complete and len(history["r0"]) == 700
    assert [limit for _, limit in journal.reads] == [500, 200]


def test_no_record_reads_nothing() -> None:
    journal = PagedJournal([event(1, "r0")])
    assert access_history(journal, A, [], since=SINCE, until=UNTIL) == ({}, True)
    assert journal.reads == []
