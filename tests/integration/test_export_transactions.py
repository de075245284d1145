"""Batched conditional writes (chalicelib/adapters/dynamodb/export_queue.py): a batch's leases and
outcomes in TransactWriteItems, each item with its record's own condition; a transaction cancelled
by a concurrent change drops that item and writes the rest; the trigger and the sweeper racing still
send each record once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
from chalicelib.adapters.sidep import Hl7BatchSender
from chalicelib.domain.model import DeliveryState, MessageKind
from chalicelib.domain.model import ScreeningResult as Result
from devtools.fake_sidep import FakeSidep, InProcessTransport
from testkit.export_support import Exporter, assert_exactly_once, correct, load, seed
from testkit.fakes import FixedClock
from tests.integration.test_export_faults import AtomicRequests

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class Counting:
    """A DynamoDB client that counts its calls (one call, one round trip) and may run a hook
    before a given operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.before: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            hook = self.before.pop(name, None)
            if hook is not None:
                hook(kwargs)
            return method(*args, **kwargs)

        return call


def test_a_first_send_of_100_costs_two_transactions_to_lease_with_their_markers_and_one_to_settle(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    # a first send's lease is two items (the record's update, its write-once sent marker): 200
    # items, two transactions; a resend (first_sent_at read) has no marker to write
    records = seed(100, clock)
    exporter = Exporter(sidep, clock, batch_size=100)
    exporter.sender = Hl7BatchSender(InProcessTransport(sidep.receiver))
    counting = Counting(exporter.client)
    summary = exporter.run(queue=DynamoDbExportQueue(cast("DynamoDBClient", counting), owner="counted"))
    assert summary.acknowledged == 100
    assert counting.calls["transact_write_items"] == 3
    assert counting.calls["update_item"] == 0 and counting.calls["get_item"] == 0
    # reads: one page per shard, and the oldest-due gauge (one item per shard)
    assert counting.calls["query"] <= 2 * 8 + 8
    assert_exactly_once(sidep, records)


def test_a_change_cancelling_the_outcome_transaction_drops_that_record_only(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(20, clock)
    exporter = Exporter(sidep, clock, batch_size=20)
    transport = InProcessTransport(sidep.receiver)
    exporter.sender = Hl7BatchSender(transport)
    changed = records[7]

    # the pharmacist corrects one record while the batch is at SI-DEP: the outcome transaction is
    # cancelled for that item (version changed), the other 19 are written on the retry
    def meanwhile() -> None:
        correct(changed, clock, Result.POSITIVE)

    transport.while_in_flight = meanwhile
    counting = Counting(exporter.client)
    summary = exporter.run(queue=DynamoDbExportQueue(cast("DynamoDBClient", counting), owner="racing"))
    assert (summary.acknowledged, summary.superseded) == (20, 1)
    assert counting.calls["transact_write_items"] == 3  # lease, settle cancelled, settle retried
    for record in records:
        if record is not changed:
            assert load(record).delivery.state is DeliveryState.ACKNOWLEDGED
    current = load(changed)
    # SI-DEP has version 1: the correction goes out as such
    assert current.delivery.acknowledged_version == 1
    assert current.delivery.pending_message is MessageKind.CORRECTION
    clock.advance(minutes=1)
    exporter.drain()
    assert_exactly_once(sidep, records)
    kinds = Counter(m["kind"] for m in sidep.messages().values())
    assert kinds == {"F": 20, "C": 1}


def test_a_change_cancelling_the_lease_transaction_leaves_that_record_for_later(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    records = seed(10, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    exporter.sender = Hl7BatchSender(InProcessTransport(sidep.receiver))
    counting = Counting(exporter.client)
    changed = records[3]
    counting.before["transact_write_items"] = lambda _: correct(changed, clock, Result.POSITIVE)
    summary = exporter.run(queue=DynamoDbExportQueue(cast("DynamoDBClient", counting), owner="leasing"))
    # read at version 1, changed to 2 before the lease: skipped by this batch, leased by the next
    assert summary.skipped >= 1 or summary.leased == 10
    exporter.drain()
    assert_exactly_once(sidep, records)
    assert load(changed).test.result is Result.POSITIVE


def test_the_trigger_and_the_sweeper_racing_send_each_record_once(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    from chalicelib.adapters.dynamodb.models import RecordModel

    records = seed(40, clock)
    exporter = Exporter(sidep, clock, batch_size=10)
    exporter.sender = Hl7BatchSender(InProcessTransport(sidep.receiver))
    exporter.client = AtomicRequests(exporter.client)
    # what the stream delivers: the new images of the records just made ready
    images = [
        exporter.client.get_item(
            TableName=str(RecordModel.Meta.table_name),
            Key={"finess": {"S": r.finess}, "record_id": {"S": r.id}},
            ConsistentRead=True,
        )["Item"]
        for r in records
    ]
    barrier = threading.Barrier(2)
    summaries: list[Any] = []
    errors: list[BaseException] = []

    def trigger() -> None:
        try:
            queue = exporter.queue(owner="trigger")
            barrier.wait()
            summaries.append(exporter.run(queue=queue, changed=queue.ready_in(images, clock.now())))
        except BaseException as exc:
            errors.append(exc)

    def sweeper() -> None:
        try:
            barrier.wait()
            summaries.append(exporter.run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=trigger), threading.Thread(target=sweeper)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(s.acknowledged for s in summaries) == 40
    assert_exactly_once(sidep, records)
    assert set(sidep.ledger().values()) == {1}  # no record sent by both


def test_the_trigger_reads_nothing_a_batch_of_new_images_costs_its_two_transactions(
    aws: dict[str, str], sidep: FakeSidep, clock: FixedClock
) -> None:
    from chalicelib.adapters.dynamodb.models import RecordModel

    records = seed(30, clock)
    exporter = Exporter(sidep, clock, batch_size=100)
    exporter.sender = Hl7BatchSender(InProcessTransport(sidep.receiver))
    images = [
        exporter.client.get_item(
            TableName=str(RecordModel.Meta.table_name),
            Key={"finess": {"S": r.finess}, "record_id": {"S": r.id}},
            ConsistentRead=True,
        )["Item"]
        for r in records
    ]
    counting = Counting(exporter.client)
    queue = DynamoDbExportQueue(cast("DynamoDBClient", counting), owner="trigger")
    summary = exporter.run(queue=queue, changed=queue.ready_in(images, clock.now()))
    assert summary.acknowledged == 30
    # no query, no read: the images are the items; one transaction to lease, one to settle
    assert dict(counting.calls) == {"transact_write_items": 2}
    assert_exactly_once(sidep, records)
