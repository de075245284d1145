"""Fault tests: each ends with every record acknowledged, exactly once in the receiver's ledger
(one entry per message control id; a resend only raises that entry's count), none lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pytest

from chalicelib.domain.model import DeliveryState, RecordStatus
from chalicelib.domain.model import ScreeningResult as Result
from chalicelib.ports import ExportQueue, Queued
from devtools.fake_sidep import FakeSidep
from testkit.export_support import (
    Exporter,
    assert_exactly_once,
    correct,
    load,
    raw,
    seed,
    sender_for,
)
from testkit.fakes import FixedClock


def test_receiver_down_then_up(aws: dict[str, str], sidep: FakeSidep, clock: FixedClock) -> None:
    records = seed(30, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    sidep.set_faults(down=True)

    first = exporter.run()
    assert (first.retried, first.acknowledged) == (30, 0)
    waiting = load(records[0])
    assert waiting.delivery.state is DeliveryState.READY and waiting.delivery.attempts == 1
    assert waiting.status is RecordStatus.SENT
    assert waiting.delivery.last_error in ("connection error", "tls error")  # closed before the handshake
    # with u = 0.5, the first retry is due 30 s * 0.75 later: not before
    assert waiting.delivery.next_attempt_at == datetime.fromisoformat("2026-11-29T12:00:22+00:00")
    assert exporter.run().leased == 0
    assert sidep.ledger() == {}

    sidep.clear_faults()
    clock.advance(seconds=23)
    exporter.drain()
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {1}


def test_a_true_refusal_while_the_receiver_is_stopped(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(5, clock)
    exporter = Exporter(sidep, clock)
    sidep.stop()
    assert exporter.run().retried == 5
    sidep.start()
    clock.advance(minutes=1)
    exporter.drain()
    assert_exactly_once(sidep, records)


def test_http_500s(aws: dict[str, str], sidep: FakeSidep, clock: FixedClock) -> None:
    records = seed(20, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    sidep.set_faults(http500=True)
    exporter.run()
    clock.advance(minutes=1)
    exporter.run()
    assert load(records[0]).delivery.attempts == 2
    assert load(records[0]).delivery.last_error == "http 500"
    sidep.clear_faults()
    clock.advance(minutes=5)
    exporter.drain()
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {1}
    assert load(records[0]).delivery.attempts == 3


def test_timeouts_leave_delivered_batches_that_the_resend_deduplicates(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(8, clock)
    exporter = Exporter(sidep, clock, batch_size=8, read_timeout=0.5)
    sidep.set_faults(slow_seconds=2.0)
    summary = exporter.run()
    assert summary.retried == 8
    assert load(records[0]).delivery.last_error == "timeout"
    assert len(sidep.ledger()) == 8  # SI-DEP got them; we never saw the ACKs

    sidep.clear_faults()
    exporter.sender = sender_for(sidep)  # a patient client again (a loaded machine is slow)
    clock.advance(minutes=1)
    exporter.drain()
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {2}  # the resend arrived as a duplicate, not a new entry


def test_connection_cut_after_receiving(aws: dict[str, str], sidep: FakeSidep, clock: FixedClock) -> None:
    records = seed(6, clock)
    exporter = Exporter(sidep, clock)
    sidep.set_faults(cut=True)
    assert exporter.run().retried == 6
    sidep.clear_faults()
    clock.advance(minutes=1)
    exporter.drain()
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {2}


def test_a_share_of_rejections_then_corrections(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(40, clock)
    exporter = Exporter(sidep, clock, batch_size=20)
    sidep.set_faults(ae_share=0.3)
    summary = exporter.run()
    assert 0 < summary.rejected < 40 and summary.acknowledged == 40 - summary.rejected
    rejected = [r for r in records if load(r).delivery.state is DeliveryState.REJECTED]
    assert len(rejected) == summary.rejected
    one = load(rejected[0])
    # the code and category only: SI-DEP's free text (it quotes the family name) is never kept
    assert one.status is RecordStatus.REJECTED
    assert one.delivery.last_error == "AE 207 application internal error"
    item = raw(rejected[0])
    assert item.export_queue is None and item.next_attempt_at is None
    assert exporter.run().leased == 0  # a rejection is not retried as is

    # The pharmacy corrects each rejected record (a new version, a new control id); the fake's
    # verdict depends on the control id, so some corrections are rejected again: correct again.
    for _ in range(10):
        still = [r for r in records if load(r).delivery.state is DeliveryState.REJECTED]
        if not still:
            break
        for record in still:
            correct(
                record,
                clock,
                Result.POSITIVE if load(record).test.result is Result.NEGATIVE else Result.NEGATIVE,
            )
        clock.advance(minutes=1)
        exporter.run()
    assert_exactly_once(sidep, records)
    # never acknowledged before: the resend is a final result, not a correction
    assert {m["kind"] for m in sidep.messages().values()} == {"F"}
    assert set(sidep.ledger().values()) == {1}


class CrashAfterSend:
    """The queue of a run that dies after the batch was sent, before recording the outcomes."""

    def __init__(self, queue: ExportQueue) -> None:
        self._queue = queue

    def due(self, now: datetime) -> Iterator[Queued]:
        return self._queue.due(now)

    def lease(self, items: Sequence[Queued], now: datetime, until: datetime) -> list[Queued]:
        return self._queue.lease(items, now, until)

    def oldest_due(self, now: datetime) -> datetime | None:
        return self._queue.oldest_due(now)

    def settle(self, items: Sequence[Queued], now: datetime, outcomes: dict[str, str]) -> int:
        raise RuntimeError("simulated crash between send and mark")


def test_a_crash_between_send_and_mark(aws: dict[str, str], sidep: FakeSidep, clock: FixedClock) -> None:
    records = seed(10, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    with pytest.raises(RuntimeError):
        exporter.run(queue=CrashAfterSend(exporter.queue()))
    assert len(sidep.ledger()) == 10
    assert load(records[0]).delivery.state is DeliveryState.LEASED
    assert exporter.run().leased == 0  # the lease is live: no other run takes them

    clock.advance(seconds=exporter.settings.lease_seconds + 1)
    summary = exporter.run()
    assert summary.acknowledged == 10
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {2}
    assert load(records[0]).delivery.attempts == 2


class AtomicRequests:
    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def test_two_export_runs_at_once_never_send_the_same_record(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(60, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    # DynamoDB applies each request atomically; in-process moto does not (its condition check and
    # write can interleave across threads), so each request is made atomic here, as in DynamoDB.
    exporter.client = AtomicRequests(exporter.client)
    barrier = threading.Barrier(2)
    summaries: list[Any] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            barrier.wait()
            summaries.append(exporter.run())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(summaries) == 2 and all(s.leased > 0 for s in summaries)  # both runs took a share
    assert sum(s.leased for s in summaries) == 60
    assert sum(s.acknowledged for s in summaries) == 60
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {1}  # no record was sent by both runs


def test_a_receiver_asking_to_slow_down_holds_that_batch_for_its_retry_after_and_stops_the_run(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(15, clock)
    exporter = Exporter(sidep, clock, batch_size=5)
    sidep.set_faults(busy_seconds=120)  # 429, Retry-After: 120
    summary = exporter.run()
    # the first batch is refused: the run sends nothing more (the other 10 are not even leased)
    assert (summary.stopped_by_receiver, summary.batches, summary.retried) == (True, 1, 5)
    assert sidep.ledger() == {}
    held = [r for r in records if load(r).delivery.attempts == 1]
    assert len(held) == 5 and {load(r).delivery.last_error for r in held} == {"http 429"}
    sidep.clear_faults()
    # a minute later (past the 30 s backoff of a first failure, not past Retry-After) the others go
    clock.advance(seconds=60)
    assert exporter.run().acknowledged == 10
    clock.advance(seconds=61)
    assert exporter.run().acknowledged == 5
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {1}
