"""What an operator asks of the export queue: re-drive the dead letters, end the backoff of records
waiting after a failed attempt (the outage is over), count the records set aside as unreadable.
Each write is conditional on the record as read, like the queue's own (export_queue.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.errors import is_conditional_failure
from chalicelib.adapters.dynamodb.export_writes import (
    INDEX,
    NAMES,
    QUARANTINE_METRIC,
    delivery_fields,
    record_key,
    set_aside,
    update_expression,
)
from chalicelib.adapters.dynamodb.models import RecordModel
from chalicelib.adapters.dynamodb.records import record_from_model
from chalicelib.domain import delivery
from chalicelib.domain.model import DeliveryState
from chalicelib.domain.serialization import iso_utc
from chalicelib.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def redrive(client: DynamoDBClient, table: str, now: datetime) -> int:
    """Put every dead letter back in the queue (attempts reset). Scans the table: an operator
    action, rare, and dead letters are not in the sparse index."""
    count = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        # an erased record (no blob) has nothing to send: it stays a dead letter
        "FilterExpression": "delivery_state = :failed AND attribute_exists(personal)",
        "ExpressionAttributeValues": {":failed": {"S": DeliveryState.FAILED.value}},
    }
    while True:
        page = client.scan(**kwargs)
        for raw in page.get("Items", []):
            try:
                record, _ = record_from_model(RecordModel.from_raw_data(raw))
            except Exception as exc:  # one unreadable dead letter must not stop the others'
                _quarantine_dead_letter(client, table, raw, exc, now)
                continue
            delivery.redrive(record, now)
            sets, removes, values = delivery_fields(record)
            values[":v"] = {"N": str(record.version)}
            values[":failed"] = {"S": DeliveryState.FAILED.value}
            try:
                client.update_item(
                    TableName=table,
                    Key=record_key(record),
                    UpdateExpression=update_expression(sets, removes),
                    ConditionExpression=(
                        "#version = :v AND delivery_state = :failed AND attribute_exists(personal)"
                    ),
                    ExpressionAttributeNames=NAMES,
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise
                continue
            count += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            return count
        kwargs["ExclusiveStartKey"] = start


def _quarantine_dead_letter(
    client: DynamoDBClient, table: str, raw: dict[str, Any], error: Exception, now: datetime
) -> None:
    """Mark an unreadable dead letter quarantined (it stays a dead letter: `status` counts it
    under both), with the ERROR log and the metric of every quarantine."""
    key = {name: raw[name] for name in ("finess", "record_id")}
    logger.error(
        "dead letter unreadable: quarantined, not re-driven",
        extra={
            "record_id": str(key["record_id"].get("S", "?")),
            "finess": str(key["finess"].get("S", "?")),
            "error": type(error).__name__,  # never its text: it may quote the value
        },
    )
    metrics.add_metric(name=QUARANTINE_METRIC, unit=MetricUnit.Count, value=1)
    failed = {":failed": {"S": DeliveryState.FAILED.value}}
    set_aside(client, table, key, "delivery_state = :failed", failed, now)


def end_backoff(
    client: DynamoDBClient, table: str, shards: Sequence[str], now: datetime
) -> list[tuple[str, str]]:
    """Every record waiting out a backoff after a failed attempt becomes due now (the outage is
    over). Conditional on the record being as read (same version, still ready, still waiting,
    no live lease): a record the pharmacy or a run changed meanwhile is left alone. Returns the
    (finess, record id) of the records it made due; the caller journals them."""
    bound = iso_utc(now)
    done: list[tuple[str, str]] = []
    for shard in shards:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": INDEX,
            "KeyConditionExpression": "export_queue = :q AND next_attempt_at > :now",
            "FilterExpression": "delivery_state = :ready AND attempts > :zero",
            "ExpressionAttributeValues": {
                ":q": {"S": shard},
                ":now": {"S": bound},
                ":ready": {"S": DeliveryState.READY.value},
                ":zero": {"N": "0"},
            },
        }
        while True:
            page = client.query(**kwargs)
            for raw in page.get("Items", []):
                if _end_one_backoff(client, table, raw, bound):
                    done.append((raw["finess"]["S"], raw["record_id"]["S"]))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
            kwargs["ExclusiveStartKey"] = start
    return done


def _end_one_backoff(client: DynamoDBClient, table: str, raw: dict[str, Any], bound: str) -> bool:
    if "version" not in raw:  # malformed: the export sets it aside once it is due
        return False
    try:
        client.update_item(
            TableName=table,
            Key={"finess": raw["finess"], "record_id": raw["record_id"]},
            UpdateExpression="SET next_attempt_at = :now",
            ConditionExpression=(
                "#version = :v AND delivery_state = :ready AND next_attempt_at = :due"
                " AND attribute_exists(export_queue)"
                " AND (attribute_not_exists(lease_expires_at) OR lease_expires_at < :now)"
            ),
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={
                ":now": {"S": bound},
                ":v": raw["version"],
                ":ready": {"S": DeliveryState.READY.value},
                ":due": raw["next_attempt_at"],
            },
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return False
    return True


def quarantined_count(client: DynamoDBClient, table: str) -> int:
    """How many records the export set aside as unreadable (a scan counting them: an operator's
    read, like the dead letters'; the `ExportQuarantined` metric and its alarm say when one is)."""
    count = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "FilterExpression": "attribute_exists(export_quarantined_at)",
    }
    while True:
        page = client.scan(**kwargs)
        count += int(page.get("Count", 0))
        start = page.get("LastEvaluatedKey")
        if not start:
            return count
        kwargs["ExclusiveStartKey"] = start
