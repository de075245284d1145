"""Unauthenticated refusals are journaled per source and reason per window (one event each), never
per request."""

from __future__ import annotations

import re
import threading

from chalicelib.ports import RequestMeta
from chalicelib.services.refusals import OTHER_SOURCES, UnauthenticatedRefusals
from testkit.fakes import FakeJournal, FixedClock

ATTACKER = RequestMeta(request_id="r1", source_ip="203.0.113.7", user_agent="flood/1.0")


def _counted(journal: FakeJournal) -> int:
    """How many refusals the journal's events account for."""
    total = 0
    for event in journal.events:
        found = re.findall(r"(first|(\d+) more) in window", event.reason)
        assert found, event.reason
        total += sum(1 if what == "first" else int(n) for what, n in found)
    return total


def test_a_flood_grows_the_journal_by_the_windows_not_the_requests() -> None:
    journal, clock = FakeJournal(), FixedClock()
    refusals = UnauthenticatedRefusals(journal, clock, window_seconds=300)
    for _ in range(1000):
        refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")
    assert len(journal.events) == 1  # the first, at once
    clock.advance(seconds=300)
    for _ in range(1000):
        refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")
    assert len(journal.events) == 2  # the first of window 2 carries the count of window 1
    assert "first in window" in journal.events[1].reason
    assert "999 more in window" in journal.events[1].reason
    assert _counted(journal) == 1001
    event = journal.events[0]
    assert (event.action, event.outcome, event.actor, event.finess) == (
        "authenticate",
        "denied",
        "anonymous",
        None,
    )
    assert event.source_ip == ATTACKER.source_ip and event.request_id == "r1"


def test_sources_and_reasons_are_told_apart() -> None:
    journal = FakeJournal()
    refusals = UnauthenticatedRefusals(journal, FixedClock())
    for ip in ("198.51.100.1", "198.51.100.2"):
        for reason in ("The token has expired.", "The token is malformed."):
            for _ in range(3):
                refusals.refuse(RequestMeta(source_ip=ip), "authenticate", reason)
    assert len(journal.events) == 4


def test_sources_beyond_the_bound_share_one_tally() -> None:
    journal = FakeJournal()
    refusals = UnauthenticatedRefusals(journal, FixedClock(), max_sources=10)
    for i in range(500):  # a source is an IPv6 address's /64: one prefix each
        source = RequestMeta(source_ip=f"2001:db8:{i:x}::1")
        refusals.refuse(source, "authenticate", "The token is malformed.")
    assert len(journal.events) == 11
    assert journal.events[-1].source_ip == "2001:db8:a::/64"  # the first of those counted as OTHER_SOURCES
    assert OTHER_SOURCES == "*"


def test_a_journal_that_fails_never_fails_the_refusal_and_the_count_survives() -> None:
    journal, clock = FakeJournal(down=True), FixedClock()
    refusals = UnauthenticatedRefusals(journal, clock)
    for _ in range(50):
        refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")  # never raises
    journal.down = False
    clock.advance(seconds=300)
    refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")
    assert "50 more in window" in journal.events[0].reason  # the lost opener is counted too


def test_concurrent_refusals_are_each_counted_once() -> None:
    journal, clock = FakeJournal(), FixedClock()
    refusals = UnauthenticatedRefusals(journal, clock)
    start = threading.Barrier(8)

    def flood() -> None:
        start.wait()
        for _ in range(200):
            refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clock.advance(seconds=300)
    refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")
    assert len(journal.events) == 2
    assert _counted(journal) == 1601


def test_a_flood_over_many_windows_adds_one_event_per_window_and_its_end_is_closed_later() -> None:
    journal, clock = FakeJournal(), FixedClock()
    refusals = UnauthenticatedRefusals(journal, clock, window_seconds=300)
    for _ in range(5):
        for _ in range(100):
            refusals.refuse(ATTACKER, "authenticate", "The token is malformed.")
        clock.advance(seconds=300)
    assert len(journal.events) == 5 and _counted(journal) == 500 - 99  # the last window's 99 wait
    other = RequestMeta(source_ip="198.51.100.9")
    refusals.refuse(other, "authenticate", "The token has expired.")  # the window after: not closed yet
    clock.advance(seconds=300)
    refusals.refuse(other, "authenticate", "The token has expired.")  # the flood's key did not come back
    assert "99 more in window" in journal.events[-2].reason  # closed before the window's first
    assert _counted(journal) == 502


def test_rotating_ipv6_addresses_inside_one_prefix_share_one_tally_on_every_route() -> None:
    # the /64 was applied by the PSC start only: a token refusal (authenticate, authorize) from a
    # new address of the same prefix opened a new tally, one year-long event each, up to the cap
    journal, clock = FakeJournal(), FixedClock()
    refusals = UnauthenticatedRefusals(journal, clock, window_seconds=300)
    for i in range(50):
        meta = RequestMeta(request_id=f"r{i}", source_ip=f"2001:db8:1:2::{i + 1:x}")
        refusals.refuse(meta, "authenticate", "The token is malformed.")
    assert len(journal.events) == 1
    assert journal.events[0].source_ip == "2001:db8:1:2::/64"
