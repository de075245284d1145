"""Scheduled functions: the SI-DEP export's sweeper and its per-shard fan-out, the audit
checkpoints and the retention purge (AWS only: `make run` runs the export's sweeper itself,
operations/export.py; the purge is `make purge` there). The export's trigger is a stream handler
(chalicelib/api/streams.py).

The fan-out's queue is a resource of our template: the name given here is a placeholder that
infra/template/functions.py replaces with the queue's ARN."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Cron, Rate

from chalicelib import jobs

blueprint = Blueprint(__name__)


EXPORT_FANOUT_QUEUE_PLACEHOLDER = "arn:aws:sqs:eu-west-3:000000000000:set-by-infra-export-shards"


@blueprint.schedule(Rate(5, unit=Rate.MINUTES), name="export_to_sidep")
def export_to_sidep(event: Any) -> dict[str, Any]:
    """The sweeper: retries, backoff and anything the trigger missed, one exporter per shard."""
    return jobs.scheduled_export(event.context.get_remaining_time_in_millis())


@blueprint.on_sqs_message(queue_arn=EXPORT_FANOUT_QUEUE_PLACEHOLDER, batch_size=1, name="export_shard")
def export_shard(event: Any) -> dict[str, Any]:
    """The fan-out's consumer: a batch of one message, one shard's exporter."""
    summary: dict[str, Any] = {}
    for message in event:
        summary = jobs.export_shard(message.body, event.context.get_remaining_time_in_millis())
    return summary


@blueprint.schedule(Rate(1, unit=Rate.HOURS), name="checkpoint_audit")
def checkpoint_audit(event: Any) -> dict[str, int]:
    return jobs.checkpoint_audit()


@blueprint.schedule(Cron(30, 2, "*", "*", "?", "*"), name="purge_expired")
def purge_expired(event: Any) -> dict[str, Any]:
    """Daily, 02:30 UTC: erase the personal data the retention policy says is due (docs/retention.md)."""
    return jobs.scheduled_purge(event.context.get_remaining_time_in_millis())


@blueprint.lambda_function(name="redrive_dead_letters")
def redrive_dead_letters(event: Any, context: Any) -> dict[str, int]:
    """The operator's `export redrive` on a stage: dead letters back in the queue, with the export's
    role (the operator role writes no record); with `detail.action` "retry", the operator's `export
    retry`: the backoff of records waiting to retry ends. Nothing else of the payload is read."""
    detail = event.get("detail") if isinstance(event, dict) else None
    if isinstance(detail, dict) and detail.get("action") == "retry":
        return {"retried": jobs.retry()}
    return {"redriven": jobs.redrive()}
