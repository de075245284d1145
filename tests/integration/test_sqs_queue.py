"""The export's fan-out queue on SQS (moto): every body arrives, 10 per call or more, and a message
SQS refuses twice fails the call instead of vanishing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.sqs import MessagesRefused, SqsMessageQueue


@pytest.fixture
def sqs() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("sqs", region_name="eu-west-3")
        yield client, client.create_queue(QueueName="export-shards")["QueueUrl"]


def _received(client: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_every_body_reaches_the_queue_in_batches_of_ten(sqs: tuple[Any, str]) -> None:
    client, url = sqs
    bodies = [f'{{"shard": "q{i}"}}' for i in range(23)]
    assert SqsMessageQueue(client, url).send_all(bodies) == 23
    assert sorted(_received(client, url)) == sorted(bodies)


class RefusingSqs:
    """SQS's SendMessageBatch answering 200 with some entries `Failed` (a throttle, an internal error)."""

    def __init__(self, client: Any, refuse_times: int) -> None:
        self.client, self.refuse_times, self.calls = client, refuse_times, 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls += 1
        if self.refuse_times:
            self.refuse_times -= 1
            refused, sent = Entries[:1], Entries[1:]
            answer = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=sent) if sent else {}
            failed = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in refused]
            return {**answer, "Failed": failed}
        return dict(self.client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries))


def test_a_message_refused_once_is_sent_again_and_arrives(sqs: tuple[Any, str]) -> None:
    client, url = sqs
    refusing = RefusingSqs(client, refuse_times=1)
    bodies = [f"body-{i}" for i in range(3)]
    assert SqsMessageQueue(refusing, url).send_all(bodies) == 3  # type: ignore[arg-type]
    assert sorted(_received(client, url)) == bodies and refusing.calls == 2


def test_a_message_refused_twice_fails_the_call_naming_no_body(sqs: tuple[Any, str]) -> None:
    client, url = sqs
    with pytest.raises(MessagesRefused) as refused:
        SqsMessageQueue(RefusingSqs(client, refuse_times=2), url).send_all(["secret-shard-body"])  # type: ignore[arg-type]
    assert "secret-shard-body" not in str(refused.value) and "InternalError" in str(refused.value)
