"""Run a Chalice `@app.on_dynamodb_record` handler locally the way Lambda's event source mapping does.

    poller = StreamPoller(dynamodb_client, streams_client, table_name, handler, batch_size=100)
    poller.poll_once()          # one pass over every shard; returns the records delivered
    poller.run(stop, every=1.0) # until `stop` (a threading.Event) is set

What it keeps from the event source mapping (starting position TRIM_HORIZON, one batch in flight
per shard, no parallelisation factor):
  * order: a shard's records reach the handler in stream order, in batches of at most
    `batch_size`, and the next batch of a shard only after the previous one returned;
  * retry: a batch whose handler raised is delivered again, whole, from its first record, until
    the handler returns (Lambda's default: retry until the records expire). The handler must
    therefore be idempotent;
  * the event: {"Records": [...]} with eventID, eventName, eventVersion, eventSource, awsRegion,
    dynamodb (Keys, NewImage, OldImage, SequenceNumber, SizeBytes, StreamViewType,
    ApproximateCreationDateTime as epoch seconds) and eventSourceARN, as Lambda sends it.
  * position: where each shard stands is kept in memory, or in `state_file` (JSON) if given, so
    that a poller restarted after a crash resumes after the last batch its handler completed.

Works against moto server (`make run`) and in-process moto (tests). Build the streams client with
`streams_client()`: botocore 1.44 otherwise sends stream calls to the account-based endpoint
(<account>.streams-ddb.<region>.amazonaws.com), which moto does not serve.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.config

Handler = Callable[[dict[str, Any], Any], Any]


def streams_client(session: Any, endpoint_url: str | None = None) -> Any:
    """A DynamoDB Streams client on the regional endpoint (the one moto serves)."""
    config = botocore.config.Config(account_id_endpoint_mode="disabled")
    return session.client("dynamodbstreams", endpoint_url=endpoint_url, config=config)


class LocalContext:
    """The few attributes of a Lambda context a handler may read."""

    function_name = "local-stream-consumer"
    aws_request_id = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda gives a stream handler."""
    body = dict(record.get("dynamodb", {}))
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record.get("eventID", ""),
        "eventName": record.get("eventName", ""),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": stream_arn.split(":")[3],  # the table's region (moto says us-east-1)
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


class StreamPoller:
    """Feeds one table's stream to one handler, shard by shard, batch by batch."""

    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        handler: Handler,
        *,
        batch_size: int = 100,
        state_file: Path | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._table = table_name
        self._handler = handler
        self._batch_size = batch_size
        self._state_file = state_file
        self._context = LocalContext()
        # shard id -> sequence number of the last record the handler completed
        self._done: dict[str, str] = self._load()
        self._iterators: dict[str, str] = {}
        self.stream_arn: str | None = None

    def _load(self) -> dict[str, str]:
        if self._state_file is None or not self._state_file.exists():
            return {}
        data = json.loads(self._state_file.read_text())
        return {str(k): str(v) for k, v in data.get("shards", {}).items()}

    def _save(self) -> None:
        if self._state_file is None:
            return
        tmp = self._state_file.with_name(f".{self._state_file.name}.tmp")
        tmp.write_text(json.dumps({"stream_arn": self.stream_arn, "shards": self._done}))
        os.replace(tmp, self._state_file)

    def _arn(self) -> str | None:
        if self.stream_arn is None:
            table = self._dynamodb.describe_table(TableName=self._table)["Table"]
            self.stream_arn = table.get("LatestStreamArn")
        return self.stream_arn

    def _iterator(self, arn: str, shard: str) -> str:
        if shard not in self._iterators:
            after = self._done.get(shard)
            kwargs: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
                if after
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            answer = self._streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **kwargs)
            self._iterators[shard] = answer["ShardIterator"]
        return self._iterators[shard]

    def _shards(self, arn: str) -> list[str]:
        shards = self._streams.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", [])
        return sorted(s["ShardId"] for s in shards)

    def poll_once(self) -> int:
        """Deliver every record available now; the number delivered. Raises what the handler raised
        (that batch will be delivered again by the next call)."""
        arn = self._arn()
        if not arn:
            return 0
        # Each pass starts from the last record delivered, not from a kept iterator: moto undoes a
        # failed transaction by putting back a copy of the table, whose stream is a copy too, and
        # an iterator on the old one would never see another record (devtools/moto_atomic.py).
        self._iterators.clear()
        delivered = 0
        for shard in self._shards(arn):
            while True:
                iterator = self._iterator(arn, shard)
                page = self._streams.get_records(ShardIterator=iterator, Limit=self._batch_size)
                records = page.get("Records", [])
                if not records:
                    if page.get("NextShardIterator"):
                        self._iterators[shard] = page["NextShardIterator"]
                    break
                event = {"Records": [lambda_record(r, arn) for r in records]}
                try:
                    self._handler(event, self._context)
                except BaseException:
                    # The whole batch again next time, from its first record (Lambda's retry).
                    self._iterators.pop(shard, None)
                    raise
                self._done[shard] = records[-1]["dynamodb"]["SequenceNumber"]
                self._save()
                delivered += len(records)
                if page.get("NextShardIterator"):
                    self._iterators[shard] = page["NextShardIterator"]
                else:  # a closed shard, read to its end
                    self._iterators.pop(shard, None)
                    break
        return delivered

    def run(
        self, stop: threading.Event, every: float = 1.0, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        """Poll until `stop` is set; a failing batch is retried on the next pass."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # keep polling, as the event source mapping does
                if on_error is not None:
                    on_error(exc)
            stop.wait(every)
