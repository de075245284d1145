"""moto made to keep DynamoDB's isolation (devtools/moto_atomic.py, installed by tests/conftest.py):
what the audit journal's tests and the local stack rely on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.streams import streams_client


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-3")
        for name in ("events", "claims"):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            )
        client.put_item(TableName="claims", Item={"k": {"S": "taken"}})
        yield client


def _failing_transaction(client: Any, key: str) -> None:
    """An event put, then a claim that is taken: DynamoDB writes neither."""
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "events", "Item": {"k": {"S": key}}}},
                {
                    "Put": {
                        "TableName": "claims",
                        "Item": {"k": {"S": "taken"}},
                        "ConditionExpression": "attribute_not_exists(k)",
                    }
                },
            ]
        )


def test_a_reader_already_on_the_stream_never_reads_a_failed_transaction(dynamodb: Any) -> None:
    streams = streams_client(boto3.Session(region_name="eu-west-3"))
    arn = dynamodb.describe_table(TableName="events")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    _failing_transaction(dynamodb, "phantom")
    dynamodb.put_item(TableName="events", Item={"k": {"S": "real"}})
    page = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in page["Records"]] == ["real"]
    assert [i["k"]["S"] for i in dynamodb.scan(TableName="events")["Items"]] == ["real"]


def test_a_failed_transaction_undoes_no_write_made_beside_it(dynamodb: Any) -> None:
    stop = threading.Event()

    def fail_again_and_again() -> None:
        while not stop.is_set():
            _failing_transaction(dynamodb, "phantom")

    failing = [threading.Thread(target=fail_again_and_again) for _ in range(2)]
    for thread in failing:
        thread.start()
    try:
        for i in range(150):
            dynamodb.put_item(TableName="events", Item={"k": {"S": f"w{i}"}})
    finally:
        stop.set()
        for thread in failing:
            thread.join()
    stored = {item["k"]["S"] for item in dynamodb.scan(TableName="events")["Items"]}
    assert stored == {f"w{i}" for i in range(150)}
