"""The export's fan-out queue is read by `export_shard`: a message it did not write (a function with
the queue's SendMessage right, a hand-sent test message) names no shard and is dropped with a
warning, never an exception that fails the invocation and has SQS redeliver it until the dead-letter
queue, taking the batch's real shard messages along."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "body", ["not json", "[]", '"shard"', "42", "null", '{"shard": ["a"]}', '{"shard": {"x": 1}}']
)
def test_a_fan_out_message_that_is_not_a_shard_object_is_dropped_not_raised(
    aws: dict[str, str], body: str
) -> None:
    from chalicelib.jobs import export_shard

    assert export_shard(body, 300_000) == {}
