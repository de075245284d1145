"""The audit journal on moto: append and read, one chain under contention, failures."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.bootstrap import bind_tables
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import PLATFORM_CHAIN, parse_time
from chalicelib.domain.errors import ServiceUnavailable, ValidationFailed
from operations import verify_audit
from tests.integration.audit_journal.support import (
    StepClock,
    ddb,
    ev,
    make_journal,
    raw_item,
    report_of,
    seqs,
)

# --- append and read ---------------------------------------------------------------------------


def test_append_then_read_oldest_first_with_the_contract_fields(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    for i in range(3):
        journal.append(ev(i, a))
    items, cursor = journal.read(a, start=None, end=None, limit=10, cursor=None)
    assert cursor is None
    assert [e["seq"] for e in items] == [1, 2, 3]
    first = items[0]
    assert first["time"] == "2026-11-29T09:00:01.000000Z"
    assert first["actor"] == "user-0" and first["role"] == "pharmacist" and first["finess"] == a
    assert first["action"] == "read" and first["record_ids"] == ["rec-0"] and first["outcome"] == "success"
    assert first["request_id"] == "req-0" and first["source_ip"] == "192.0.2.7"
    assert first["user_agent"] == "depistage-app/2.1" and first["reason"] == ""
    assert len(first["hash"]) == 64


def test_read_pages_with_a_cursor_and_a_time_window(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    for i in range(7):
        journal.append(ev(i, a))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        items, cursor = journal.read(a, start=None, end=None, limit=3, cursor=cursor)
        seen += [e["seq"] for e in items]
        if cursor is None:
            break
    assert seen == list(range(1, 8))
    # One event a second from 09:00:01: events 3..5 fall in [09:00:03, 09:00:05], bounds included.
    start, end = parse_time("2026-11-29T09:00:03.000000Z"), parse_time("2026-11-29T09:00:05.000000Z")
    items, cursor = journal.read(a, start=start, end=end, limit=2, cursor=None)
    assert [e["seq"] for e in items] == [3, 4] and cursor
    items, cursor = journal.read(a, start=start, end=end, limit=2, cursor=cursor)
    assert [e["seq"] for e in items] == [5] and cursor is None
    assert seqs(journal, a, start=start) == [3, 4, 5, 6, 7]
    assert seqs(journal, a, end=end) == [1, 2, 3, 4, 5]


def test_a_cursor_is_bound_to_its_pharmacy(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, b = pharmacies
    for i in range(3):
        journal.append(ev(i, a))
        journal.append(ev(i, b))
    _, cursor = journal.read(a, start=None, end=None, limit=1, cursor=None)
    assert cursor is not None
    with pytest.raises(ValidationFailed) as refused:
        journal.read(b, start=None, end=None, limit=1, cursor=cursor)
    assert refused.value.errors[0].field == "cursor"
    for garbage in ("not-a-cursor", "eyJ4IjoxfQ", "!!!"):
        with pytest.raises(ValidationFailed):
            journal.read(a, start=None, end=None, limit=1, cursor=garbage)
    assert {e["finess"] for e in journal.read(b, start=None, end=None, limit=10, cursor=None)[0]} == {b}


def test_events_without_a_pharmacy_go_to_the_platform_chain(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    marker = f"expired-{a}"
    journal.append(ev(1, None, action="authenticate", outcome="denied", actor="anonymous", reason=marker))
    platform = journal.read(PLATFORM_CHAIN, start=None, end=None, limit=500, cursor=None)[0]
    assert [e["reason"] for e in platform if e["reason"] == marker] == [marker]
    assert seqs(journal, a) == []


def test_links_expire_after_the_configured_retention(
    account: dict[str, str], pharmacies: tuple[str, str], monkeypatch: pytest.MonkeyPatch, clock: StepClock
) -> None:
    a, _ = pharmacies
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    make_journal(clock).append(ev(1, a))
    item = raw_item(a, 1)
    written = parse_time(item["time"]["S"])
    assert int(item["expires_at"]["N"]) == int((written + timedelta(days=30)).timestamp())
    ttl = ddb().describe_time_to_live(TableName=get_settings().audit_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


# --- one chain under contention ----------------------------------------------------------------


def test_concurrent_appends_keep_one_unbroken_chain(pharmacies: tuple[str, str]) -> None:
    """Four writers (four processes' worth: each its own head cache) append to one chain at once."""
    a, _ = pharmacies
    clock = StepClock()
    conflicts: list[float] = []  # one backoff per lost race
    journals = [make_journal(clock, max_attempts=50, sleep=conflicts.append) for _ in range(4)]
    for w, journal in enumerate(journals):  # each caches a head; all but the last are now stale
        journal.append(ev(w, a, request_id=f"prime-{w}"))
    per_writer = 8
    barrier = threading.Barrier(len(journals))
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                journals[w].append(ev(w * 100 + i, a, request_id=f"w{w}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(len(journals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = report_of(a, clock, worm=False)
    assert report.ok, report.summary()
    assert (report.first_seq, report.last_seq, report.events_checked) == (1, 36, 36)
    items = journals[0].read(a, start=None, end=None, limit=100, cursor=None)[0]
    expected = [f"prime-{w}" for w in range(4)] + [f"w{w}-{i}" for w in range(4) for i in range(per_writer)]
    assert sorted(e["request_id"] for e in items) == sorted(expected)
    assert len(conflicts) >= 3  # the three stale caches lost at least one race each


def test_a_stale_head_cache_costs_a_retry_not_a_fork(pharmacies: tuple[str, str], clock: StepClock) -> None:
    a, _ = pharmacies
    first, second = make_journal(clock), make_journal(clock)
    first.append(ev(1, a))
    second.append(ev(2, a))  # first's cached head (seq 1) is now stale
    first.append(ev(3, a))
    items = first.read(a, start=None, end=None, limit=9, cursor=None)[0]
    assert [e["request_id"] for e in items] == ["req-1", "req-2", "req-3"]
    assert report_of(a, clock, worm=False).ok


def test_endless_contention_ends_in_service_unavailable(
    pharmacies: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pharmacies
    pauses: list[float] = []
    contended = make_journal(StepClock(), max_attempts=4, sleep=pauses.append)
    monkeypatch.setattr(
        PutError, "cause_response_code", property(lambda _e: "ConditionalCheckFailedException")
    )

    def taken(self: AuditEventModel, *args: Any, **kwargs: Any) -> Any:
        raise PutError("taken")

    monkeypatch.setattr(AuditEventModel, "save", taken)
    with pytest.raises(ServiceUnavailable):
        contended.append(ev(1, a))
    assert len(pauses) == 4 and all(0 <= p <= 0.2 for p in pauses)


def test_a_failing_table_is_a_503_never_a_silent_success(
    pharmacies: tuple[str, str], clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pharmacies
    journal = make_journal(clock)
    journal.append(ev(1, a))
    monkeypatch.setenv("AUDIT_TABLE", "depistage-audit-gone")  # every call now fails (ResourceNotFound)
    get_settings.cache_clear()
    bind_tables(get_settings())
    with pytest.raises(ServiceUnavailable):
        journal.append(ev(2, a))  # cached head: the put itself fails
    with pytest.raises(ServiceUnavailable):
        make_journal(clock).append(ev(3, a))  # no cache: the head read fails
    with pytest.raises(ServiceUnavailable):
        journal.read(a, start=None, end=None, limit=5, cursor=None)


def test_the_writers_journal_holds_no_key_and_writes_no_checkpoint(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, _ = pharmacies
    for i in range(5):
        journal.append(ev(i, a))
    assert not hasattr(journal, "_signer") and not hasattr(journal, "_mac")
    assert verify_audit.AwsSource().document(a, clock.now())["checkpoints"] == []
