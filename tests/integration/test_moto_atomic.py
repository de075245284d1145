"""moto made to keep DynamoDB's isolation (devtools/moto_atomic.py, installed by tests/conftest.py):
what the audit journal's tests and the local stack rely on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


def _table(name: str) -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-west-3"].tables[name]


def test_a_transaction_copies_no_table_and_undoes_only_the_items_it_touched(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain moto deep-copies each table a transaction names, once per item (the local stack grew
    by gigabytes): here a table copy is an error, and the failed transaction still leaves nothing."""
    import copy

    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models.table import Table

    deepcopy = copy.deepcopy

    def no_table_copy(value: Any, memo: Any = None) -> Any:
        assert not isinstance(value, Table), "a transaction copied a whole table"
        return deepcopy(value, memo)

    monkeypatch.setattr(backend_module.copy, "deepcopy", no_table_copy)  # type: ignore[attr-defined]
    for i in range(50):
        dynamodb.put_item(TableName="events", Item={"k": {"S": f"e{i}"}})
    _failing_transaction(dynamodb, "e1")  # overwrites e1, then fails: e1 is put back as it was
    dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": "events", "Item": {"k": {"S": "e1"}, "v": {"S": "new"}}}}]
    )
    assert dynamodb.get_item(TableName="events", Key={"k": {"S": "e1"}})["Item"]["v"]["S"] == "new"
    assert len(_table("events").stream_shard.items) == 51  # 50 puts and the one that passed


def _bump(dynamodb: Any, token: str, by: int = 1) -> Any:
    return dynamodb.transact_write_items(
        ClientRequestToken=token,
        TransactItems=[
            {
                "Update": {
                    "TableName": "events",
                    "Key": {"k": {"S": "counter"}},
                    "UpdateExpression": "ADD n :by",
                    "ExpressionAttributeValues": {":by": {"N": str(by)}},
                }
            }
        ],
    )


def test_a_transaction_retried_with_its_client_request_token_is_applied_once(dynamodb: Any) -> None:
    """DynamoDB answers a retry with the same token (botocore's, after a read timeout) as the first
    success without applying it again; plain moto applies it twice."""
    _bump(dynamodb, "token-1")
    _bump(dynamodb, "token-1")  # the retry: succeeds
    counter = dynamodb.get_item(TableName="events", Key={"k": {"S": "counter"}})["Item"]["n"]["N"]
    assert counter == "1"
    _bump(dynamodb, "token-2")
    assert dynamodb.get_item(TableName="events", Key={"k": {"S": "counter"}})["Item"]["n"]["N"] == "2"


def test_a_client_request_token_names_one_transaction_only(dynamodb: Any) -> None:
    _bump(dynamodb, "token-1")
    with pytest.raises(dynamodb.exceptions.ClientError) as raised:
        _bump(dynamodb, "token-1", by=5)
    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert dynamodb.get_item(TableName="events", Key={"k": {"S": "counter"}})["Item"]["n"]["N"] == "1"


def test_a_cancelled_transaction_leaves_its_token_free_for_the_retry(dynamodb: Any) -> None:
    item = {"k": {"S": "once"}}
    put = {"Put": {"TableName": "events", "Item": item, "ConditionExpression": "attribute_not_exists(k)"}}
    dynamodb.put_item(TableName="events", Item=item)
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(ClientRequestToken="t", TransactItems=[put])
    dynamodb.delete_item(TableName="events", Key=item)
    dynamodb.transact_write_items(ClientRequestToken="t", TransactItems=[put])
    assert dynamodb.get_item(TableName="events", Key=item)["Item"] == item


def test_concurrent_retries_of_one_token_apply_once_while_the_check_holds_no_lock(dynamodb: Any) -> None:
    """The token's check and moto's checks of the request no longer hold the one lock (only the
    transaction does): retries sent at once with one token still apply it once, and a token
    expires after DynamoDB's 10 minutes (then the same items apply again, as on DynamoDB)."""
    from devtools import moto_atomic

    threads = [threading.Thread(target=_bump, args=(dynamodb, "same")) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dynamodb.get_item(TableName="events", Key={"k": {"S": "counter"}})["Item"]["n"]["N"] == "1"
    backend_tokens = next(
        backend.__dict__["_request_tokens"]
        for backend in _backends()
        if "_request_tokens" in backend.__dict__
    )
    first = backend_tokens.known["same"]
    backend_tokens.known["same"] = (first[0] - moto_atomic.REQUEST_TOKEN_SECONDS - 1, first[1])
    _bump(dynamodb, "other")  # a token of now: the expired one before it goes
    assert "same" not in backend_tokens.known and "other" in backend_tokens.known
    _bump(dynamodb, "same")
    assert dynamodb.get_item(TableName="events", Key={"k": {"S": "counter"}})["Item"]["n"]["N"] == "3"


def _backends() -> list[Any]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return list(dynamodb_backends[DEFAULT_ACCOUNT_ID].values())


def _reader(dynamodb: Any) -> tuple[Any, str, str]:
    streams = streams_client(boto3.Session(region_name="eu-west-3"))
    arn = dynamodb.describe_table(TableName="events")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams, arn, shard


def test_stream_records_every_reader_has_passed_are_trimmed_and_numbering_goes_on(dynamodb: Any) -> None:
    """Plain moto keeps every stream record forever (with both images): here a record goes once
    every reader has asked for an iterator past it, and reading goes on as before."""
    streams, arn, shard = _reader(dynamodb)
    horizon = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    for i in range(20):
        dynamodb.put_item(TableName="events", Item={"k": {"S": f"a{i}"}})
    page = streams.get_records(ShardIterator=horizon["ShardIterator"], Limit=100)
    last = page["Records"][-1]["dynamodb"]["SequenceNumber"]
    assert len(page["Records"]) == 20 and len(_table("events").stream_shard.items) == 20
    # a second reader, still at the start, holds the records until it too has passed them
    second = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last
    )
    assert len(_table("events").stream_shard.items) == 20
    assert len(streams.get_records(ShardIterator=second["ShardIterator"])["Records"]) == 20
    _table("events").stream_shard.__dict__["_claims"] = []  # both readers' older claims expire
    after = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last
    )
    assert _table("events").stream_shard.items == []
    dynamodb.put_item(TableName="events", Item={"k": {"S": "b"}})
    records = streams.get_records(ShardIterator=after["ShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in records] == ["b"]
    assert int(records[0]["dynamodb"]["SequenceNumber"]) == int(last) + 1
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    dynamodb.put_item(TableName="events", Item={"k": {"S": "c"}})
    records = streams.get_records(ShardIterator=latest["ShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in records] == ["c"]


def test_stream_records_older_than_24_hours_are_trimmed_even_with_no_reader(dynamodb: Any) -> None:
    from datetime import timedelta

    for i in range(5):
        dynamodb.put_item(TableName="events", Item={"k": {"S": f"old{i}"}})
    for record in _table("events").stream_shard.items:
        record.record["dynamodb"]["ApproximateCreationDateTime"] -= timedelta(hours=24, minutes=1)
    dynamodb.put_item(TableName="events", Item={"k": {"S": "new"}})
    streams, arn, shard = _reader(dynamodb)
    horizon = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=horizon["ShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in records] == ["new"]
    assert len(_table("events").stream_shard.items) == 1


class _Clock:
    """moto_atomic's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    from devtools import moto_atomic

    fake = _Clock()
    monkeypatch.setattr(moto_atomic, "time", fake)
    return fake


def test_a_reader_that_reads_on_without_a_new_iterator_lets_the_stream_be_trimmed_behind_it(
    dynamodb: Any, clock: _Clock
) -> None:
    """The local export trigger, while records keep coming, reads page after page in one pass
    and asks for no new iterator: each page it reads is where it stands, not only where its pass
    began (which, once that claim lapsed, kept the whole records stream for a whole soak)."""
    streams, arn, shard = _reader(dynamodb)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    read: list[str] = []
    for page in range(10):
        clock.now += 30
        for i in range(5):
            dynamodb.put_item(TableName="events", Item={"k": {"S": f"p{page}-{i}"}})
        answer = streams.get_records(ShardIterator=iterator, Limit=100)
        read += [r["dynamodb"]["Keys"]["k"]["S"] for r in answer["Records"]]
        iterator = answer["NextShardIterator"]
    assert read == [f"p{page}-{i}" for page in range(10) for i in range(5)]
    # the pages read in the last READER_SILENCE_SECONDS (120 s: 4 pages of 5) are still there
    assert len(_table("events").stream_shard.items) == 20


def test_the_local_poller_in_one_long_pass_keeps_only_the_last_minutes_of_the_stream(
    dynamodb: Any, clock: _Clock
) -> None:
    """devtools/streams.StreamPoller's pass goes on as long as records come (the handler here
    makes one per batch, as clients do, each batch 30 s after the last): the stream behind it is
    trimmed as it goes, and the batch in hand is always there."""
    from devtools.streams import StreamPoller

    kept: list[int] = []
    handled: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        handled.extend(r["dynamodb"]["Keys"]["k"]["S"] for r in event["Records"])
        kept.append(len(_table("events").stream_shard.items))
        clock.now += 30
        if len(handled) < 40:
            dynamodb.put_item(TableName="events", Item={"k": {"S": f"n{len(handled)}"}})

    dynamodb.put_item(TableName="events", Item={"k": {"S": "n0"}})
    poller = StreamPoller(dynamodb, streams_client(boto3.Session(region_name="eu-west-3")), "events", handler)
    assert poller.poll_once() == 40
    assert handled == [f"n{i}" for i in range(40)]
    assert min(kept) >= 1 and max(kept) <= 6


# --- queries read their partition -----------------------------------------------------------------

_ITEM = st.fixed_dictionaries(
    {"p": st.sampled_from("ab"), "n": st.integers(0, 12)},
    optional={"s": st.sampled_from("xy"), "due": st.integers(0, 5)},
)
_RANGE = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["=", "<", "<=", ">", ">="]), st.integers(0, 12)),
    st.tuples(st.just("BETWEEN"), st.integers(0, 6), st.integers(6, 12)),
)


def _chain_table(client: Any) -> None:
    client.create_table(
        TableName="chain",
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in (("p", "S"), ("n", "N"), ("s", "S"), ("due", "N"))
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "queue",
                "KeySchema": [
                    {"AttributeName": "s", "KeyType": "HASH"},
                    {"AttributeName": "due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _pages(
    client: Any, index: str | None, hash_value: str, bound: Any, forward: bool, limit: int | None
) -> Any:
    """Every page of one query, followed through LastEvaluatedKey."""
    hash_name, range_name = ("s", "due") if index else ("p", "n")
    condition = f"{hash_name} = :h"
    values: dict[str, Any] = {":h": {"S": hash_value}}
    if bound is not None and bound[0] == "BETWEEN":
        condition += f" AND {range_name} BETWEEN :a AND :b"
        values.update({":a": {"N": str(bound[1])}, ":b": {"N": str(bound[2])}})
    elif bound is not None:
        condition += f" AND {range_name} {bound[0]} :a"
        values[":a"] = {"N": str(bound[1])}
    kwargs: dict[str, Any] = {
        "TableName": "chain",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": forward,
    }
    if index:
        kwargs["IndexName"] = index
    if limit:
        kwargs["Limit"] = limit
    pages = []
    while True:
        answer = client.query(**kwargs)
        pages.append(
            (answer["Items"], answer.get("LastEvaluatedKey"), answer["Count"], answer["ScannedCount"])
        )
        if "LastEvaluatedKey" not in answer or len(pages) > 40:
            return pages
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


_QUERY = st.tuples(
    st.sampled_from([None, "queue"]),
    st.sampled_from("abxy"),
    _RANGE,
    st.booleans(),
    st.one_of(st.none(), st.integers(1, 3)),
).filter(lambda query: (query[0] is None) == (query[1] in "ab"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("put"), _ITEM),
            st.tuples(st.just("put"), _ITEM),
            st.tuples(st.just("delete"), _ITEM),
            st.tuples(st.just("query"), _QUERY),
        ),
        min_size=8,
        max_size=60,
    )
)
def test_a_query_reads_only_its_partition_and_answers_as_plain_moto(steps: Any) -> None:
    """moto's query looked at every item of the table, sorted, under the one lock: the head of an
    audit chain and the export's queue index cost the table's size. Here it looks only at the
    queried partition (an index's: the items with that index key; a page of a base-table query:
    the keys it reads, in the order kept as items come and go), and answers exactly as plain
    moto, whatever the puts and deletes before: the same items in the same order, the same pages,
    counts and LastEvaluatedKey."""
    from moto.dynamodb.models.table import Table

    partitioned: Any = Table.all_items
    plain_query = getattr(Table.query, "__wrapped__")  # noqa: B009 (mypy: set by functools.wraps)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-3")
        _chain_table(client)
        stored: dict[tuple[str, int], dict[str, Any]] = {}
        visited: list[int] = []

        def counted(self: Any) -> Any:
            found = partitioned(self)
            visited.append(len(found))
            return found

        for step, value in steps:
            if step == "put":
                stored[value["p"], value["n"]] = value
                client.put_item(
                    TableName="chain",
                    Item={
                        name: ({"S": field} if isinstance(field, str) else {"N": str(field)})
                        for name, field in value.items()
                    },
                )
                continue
            if step == "delete":
                stored.pop((value["p"], value["n"]), None)
                client.delete_item(
                    TableName="chain", Key={"p": {"S": value["p"]}, "n": {"N": str(value["n"])}}
                )
                continue
            index, hash_value, bound, forward, limit = value
            visited.clear()
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(Table, "all_items", counted)
                answer = _pages(client, index, hash_value, bound, forward, limit)
            with pytest.MonkeyPatch.context() as patch:  # plain moto
                patch.setattr(Table, "query", plain_query)
                patch.setattr(Table, "all_items", partitioned.__wrapped__)
                assert answer == _pages(client, index, hash_value, bound, forward, limit)
            field = "s" if index else "p"
            assert max(visited) <= sum(1 for item in stored.values() if item.get(field) == hash_value)


def _put(client: Any, value: dict[str, Any]) -> None:
    client.put_item(
        TableName="chain",
        Item={
            name: ({"S": field} if isinstance(field, str) else {"N": str(field)})
            for name, field in value.items()
        },
    )


def _move(client: Any, step: str, value: dict[str, Any]) -> None:
    """An update that moves an item into, across or out of the index, alone or in a transaction
    that then fails (its condition on an item that is not there)."""
    key = {"p": {"S": value["p"]}, "n": {"N": str(value["n"])}}
    update: dict[str, Any] = (
        {
            "UpdateExpression": "SET s = :s, due = :d",
            "ExpressionAttributeValues": {":s": {"S": value["s"]}, ":d": {"N": "1"}},
        }
        if "s" in value
        else {"UpdateExpression": "REMOVE s"}
    )
    if step == "update":
        client.update_item(TableName="chain", Key=key, **update)
        return
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": "chain", "Key": key, **update}},
                {
                    "ConditionCheck": {
                        "TableName": "chain",
                        "Key": {"p": {"S": "absent"}, "n": {"N": "0"}},
                        "ConditionExpression": "attribute_exists(p)",
                    }
                },
            ]
        )


_INDEX_QUERY = st.tuples(
    st.just("queue"), st.sampled_from("xy"), _RANGE, st.booleans(), st.one_of(st.none(), st.integers(1, 3))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("put"), _ITEM),
            st.tuples(st.sampled_from(["update", "failed"]), _ITEM),
            st.tuples(st.just("delete"), _ITEM),
            st.tuples(st.just("query"), _INDEX_QUERY),
        ),
        min_size=8,
        max_size=60,
    )
)
def test_an_index_query_reads_the_items_holding_its_key_without_walking_the_table(steps: Any) -> None:
    """An index query looked at every item of the table (to find those holding its key) under the
    one lock: the export's queue query cost the records table's size, and held every create up.
    Here each attribute an index is keyed on keeps, per value, the items holding it, as items are
    put, updated (in place, by moto), deleted or put back by a failed transaction: after the first
    query no index query walks the table, and each answers exactly as plain moto."""
    from moto.dynamodb.models.table import Table

    from devtools import moto_atomic

    plain_query = getattr(Table.query, "__wrapped__")  # noqa: B009 (mypy: set by functools.wraps)
    plain_all_items = getattr(Table.all_items, "__wrapped__")  # noqa: B009
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-3")
        _chain_table(client)
        _put(client, {"p": "a", "n": 0, "s": "x", "due": 0})
        _pages(client, "queue", "x", None, True, None)  # the first query walks the table once

        def no_walk(table: Any) -> Any:
            raise AssertionError("an index query walked the table")

        for step, value in steps:
            if step == "put":
                _put(client, value)
            elif step == "delete":
                client.delete_item(
                    TableName="chain", Key={"p": {"S": value["p"]}, "n": {"N": str(value["n"])}}
                )
            elif step in ("update", "failed"):
                _move(client, step, value)
            else:
                index, hash_value, bound, forward, limit = value
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(moto_atomic, "_unsorted_items", no_walk)
                    answer = _pages(client, index, hash_value, bound, forward, limit)
                with pytest.MonkeyPatch.context() as patch:  # plain moto
                    patch.setattr(Table, "query", plain_query)
                    patch.setattr(Table, "all_items", plain_all_items)
                    assert answer == _pages(client, index, hash_value, bound, forward, limit)


def test_the_profile_notes_each_operations_wait_and_hold_of_the_lock_once_per_outermost_hold(
    dynamodb: Any, tmp_path: Any
) -> None:
    """The opt-in profile (DEPISTAGE_MOTO_PROFILE): a nested acquisition is one hold of the
    operation the thread serves, and a dump writes the interval's operations with the tables'
    sizes, then starts a new interval."""
    import json

    from devtools import moto_atomic

    profile = moto_atomic._Profile(str(tmp_path / "profile.jsonl"), 30.0)
    lock = moto_atomic._TimedLock(profile)
    profile.local.label = "dynamodb:Query:events"
    with lock, lock:
        pass
    profile.dump()
    profile.dump()
    first, second = (json.loads(line) for line in (tmp_path / "profile.jsonl").read_text().splitlines())
    noted = first["ops"]["dynamodb:Query:events"]
    assert noted["locked"] == 1 and noted["hold"] >= 0 and noted["wait"] >= 0
    assert first["tables"]["eu-west-3/claims"] == [1, 1] and second["ops"] == {}


def _queue_ids(client: Any, state: str) -> list[str]:
    answer = client.query(
        TableName="chain",
        IndexName="queue",
        KeyConditionExpression="s = :h",
        ExpressionAttributeValues={":h": {"S": state}},
    )
    return [item["p"]["S"] for item in answer["Items"]]


def test_an_index_keeps_an_item_a_failed_transaction_deleted_and_drops_one_a_batch_write_deleted() -> None:
    """The members an index query reads (devtools/moto_atomic._members) follow every path an item
    leaves or comes back by: a transaction that deleted it, then failed, puts it back (the undo
    log's put), and a delete by BatchWriteItem (as the retention sweep's, or an expiry's) takes it
    out, as plain moto answers."""
    from moto.dynamodb.models.table import Table

    from devtools import moto_atomic

    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-3")
        _chain_table(client)
        for p in ("a", "b"):
            _put(client, {"p": p, "n": 0, "s": "x", "due": 0})
        assert _queue_ids(client, "x") == ["a", "b"]  # the members are built here, once
        with pytest.raises(client.exceptions.TransactionCanceledException):
            client.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": "chain", "Key": {"p": {"S": "a"}, "n": {"N": "0"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "chain",
                            "Key": {"p": {"S": "absent"}, "n": {"N": "0"}},
                            "ConditionExpression": "attribute_exists(p)",
                        }
                    },
                ]
            )
        client.batch_write_item(
            RequestItems={"chain": [{"DeleteRequest": {"Key": {"p": {"S": "b"}, "n": {"N": "0"}}}}]}
        )

        def no_walk(table: Any) -> Any:
            raise AssertionError("an index query walked the table")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(moto_atomic, "_unsorted_items", no_walk)
            kept = _queue_ids(client, "x")
        with pytest.MonkeyPatch.context() as patch:  # plain moto
            patch.setattr(Table, "query", getattr(Table.query, "__wrapped__"))  # noqa: B009
            patch.setattr(Table, "all_items", getattr(Table.all_items, "__wrapped__"))  # noqa: B009
            assert kept == _queue_ids(client, "x") == ["a"]
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-west-3"].get_table("chain")
        members = moto_atomic._members(table, "s")  # nothing kept of the deleted item
        assert [hash_key.value for keys in members.values() for hash_key, _ in keys] == ["a"]
