"""MessageQueue on SQS (the export's fan-out queue): SendMessageBatch, 10 messages a call.

SendMessageBatch answers 200 even when it refused some messages (`Failed`): those are sent once
more, then the call raises, so that a refused message fails the invocation (an error, alarmed)
instead of leaving its shard unexported until the next sweep without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# SendMessageBatch takes 10 entries at most.
BATCH = 10


class MessagesRefused(RuntimeError):
    """SQS refused some messages twice (the message names their count and SQS's codes, no body)."""


class SqsMessageQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send_all(self, bodies: Sequence[str]) -> int:
        for start in range(0, len(bodies), BATCH):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + BATCH], start)
            ]
            refused = self._send(entries)
            if refused:  # once more, the refused ones only (a throttle, an internal error)
                codes = self._send([e for e in entries if e["Id"] in refused])
                if codes:
                    raise MessagesRefused(
                        f"SQS refused {len(codes)} message(s) of the batch: {sorted(set(codes.values()))}"
                    )
        return len(bodies)

    def _send(self, entries: list[SendMessageBatchRequestEntryTypeDef]) -> dict[str, str]:
        """The refused entries' ids, each with SQS's code."""
        answer = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        return {failed["Id"]: failed.get("Code", "") for failed in answer.get("Failed", [])}
