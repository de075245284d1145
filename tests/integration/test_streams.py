"""The local stream poller (devtools/streams.py) on moto: the Lambda event shape, order, retry, resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.streams import StreamPoller, streams_client

TABLE = "stream-test"


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-3")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "chain", "KeyType": "HASH"},
                {"AttributeName": "seq", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "chain", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        yield ddb


def put(ddb: Any, seq: int) -> None:
    ddb.put_item(TableName=TABLE, Item={"chain": {"S": "a"}, "seq": {"N": str(seq)}})


def poller(ddb: Any, handler: Any, **kwargs: Any) -> StreamPoller:
    return StreamPoller(ddb, streams_client(boto3.Session(region_name="eu-west-3")), TABLE, handler, **kwargs)


def seqs(event: dict[str, Any]) -> list[int]:
    return [int(r["dynamodb"]["NewImage"]["seq"]["N"]) for r in event["Records"]]


def test_records_reach_the_handler_in_order_in_lambdas_event_shape(table: Any) -> None:
    batches: list[list[int]] = []
    events: list[dict[str, Any]] = []
    for seq in range(1, 8):
        put(table, seq)

    def handler(event: dict[str, Any], _ctx: Any) -> None:
        batches.append(seqs(event))
        events.append(event)

    p = poller(table, handler, batch_size=3)
    assert p.poll_once() == 7
    assert batches == [[1, 2, 3], [4, 5, 6], [7]]
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:dynamodb" and record["eventName"] == "INSERT"
    assert record["eventSourceARN"] == p.stream_arn and record["awsRegion"] == "eu-west-3"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], float)
    assert record["dynamodb"]["Keys"] == {"chain": {"S": "a"}, "seq": {"N": "1"}}
    put(table, 8)
    assert p.poll_once() == 1 and batches[-1] == [8]
    assert p.poll_once() == 0


def test_a_failed_batch_is_delivered_again_whole(table: Any) -> None:
    for seq in range(1, 6):
        put(table, seq)
    calls: list[list[int]] = []

    def flaky(event: dict[str, Any], _ctx: Any) -> None:
        calls.append(seqs(event))
        if len(calls) == 2:
            raise RuntimeError("crash mid-batch")

    p = poller(table, flaky, batch_size=2)
    with pytest.raises(RuntimeError):
        p.poll_once()
    p.poll_once()
    assert calls == [[1, 2], [3, 4], [3, 4], [5]]


def test_a_restarted_poller_resumes_after_the_last_completed_batch(table: Any, tmp_path: Path) -> None:
    for seq in range(1, 6):
        put(table, seq)
    state = tmp_path / "position.json"
    seen: list[int] = []

    def crash_on_4(event: dict[str, Any], _ctx: Any) -> None:
        if 4 in seqs(event):
            raise SystemExit("the process died")
        seen.extend(seqs(event))

    with pytest.raises(SystemExit):
        poller(table, crash_on_4, batch_size=2, state_file=state).poll_once()
    assert seen == [1, 2]
    poller(table, lambda event, _ctx: seen.extend(seqs(event)), batch_size=2, state_file=state).poll_once()
    assert seen == [1, 2, 3, 4, 5]
