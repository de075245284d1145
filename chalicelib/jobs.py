"""The bodies of the scheduled jobs, shared by the Chalice schedules (api/schedules.py) and the
operator commands (devtools/): the SI-DEP export, the retention purge, the audit checkpoints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chalicelib.config import get_settings
from chalicelib.observability import logger, metrics

if TYPE_CHECKING:
    from chalicelib.services.export import ExportSummary
    from chalicelib.services.review import StoredLink

# Time kept back from the Lambda's remaining time: the last writes, the metrics flush, shutdown.
LAMBDA_SAFETY_SECONDS = 20.0
# The sweeper's gauge: how long the oldest result still waiting for SI-DEP has waited (queued, in
# flight or in backoff), whatever its next attempt; the template alarms on it.
UNACKNOWLEDGED_METRIC = "ExportOldestUnacknowledgedAgeSeconds"


def _seconds_left(remaining_time_ms: int) -> float:
    return max(0.0, remaining_time_ms / 1000.0 - LAMBDA_SAFETY_SECONDS)


def _budget(remaining_time_ms: int) -> float:
    return min(float(get_settings().export_time_budget_seconds), _seconds_left(remaining_time_ms))


def scheduled_export(remaining_time_ms: int) -> dict[str, Any]:
    """The sweeper (retries, backoff, anything the trigger missed). With a fan-out queue it sends
    one message per export-queue shard, each consumed by an exporter of its own (`export_shard`);
    without (local stack, tests), it runs the shards on `sidep_max_concurrency` threads."""
    from chalicelib.adapters.dynamodb.models import export_queue_keys
    from chalicelib.bootstrap import build_fanout

    settings = get_settings()
    _measure_unacknowledged()
    fanout = build_fanout(settings)
    if fanout is not None:
        shards = export_queue_keys()
        fanout.send_all([json.dumps({"shard": shard}) for shard in shards])
        logger.info("export fan-out", extra={"shards": len(shards)})
        metrics.flush_metrics(raise_on_empty_metrics=False)
        return {"fanned_out": len(shards)}
    budget = _budget(remaining_time_ms)
    return _merge(_run_shards(export_queue_keys(), budget, settings.sidep_max_concurrency))


def _measure_unacknowledged() -> float:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.bootstrap import get_core

    core = get_core()
    since = DynamoDbExportQueue(core.aws.dynamodb(), owner="system:gauge").oldest_waiting_since()
    age = max(0.0, (core.clock.now() - since).total_seconds()) if since else 0.0
    metrics.add_metric(name=UNACKNOWLEDGED_METRIC, unit=MetricUnit.Seconds, value=age)
    return age


def _shard_named(body: str) -> str | None:
    """The shard a fan-out message names; None for any other body (not JSON, not an object, not a
    string): dropped with a warning rather than raised, which would fail the invocation and have
    SQS redeliver the batch, the real shards' messages with it, until the dead-letter queue."""
    try:
        message = json.loads(body) if body else None
    except ValueError:
        return None
    shard = message.get("shard") if isinstance(message, dict) else None
    return shard if isinstance(shard, str) else None


def export_shard(body: str, remaining_time_ms: int) -> dict[str, Any]:
    """The fan-out's consumer: one export run over one shard of the export queue."""
    from chalicelib.adapters.dynamodb.models import export_queue_keys

    shard = _shard_named(body)
    if shard is None or shard not in export_queue_keys():
        logger.warning("export fan-out message names no shard")
        return {}
    return _merge(_run_shards([shard], _budget(remaining_time_ms), 1))


def export_changed(images: Sequence[dict[str, Any]], remaining_time_ms: int) -> dict[str, Any]:
    """The trigger: export what a stream batch of the records table made ready, within seconds of
    the change (the result set, a correction or a withdrawal queued)."""
    from chalicelib.bootstrap import get_exporter

    try:
        summary = get_exporter().run(_budget(remaining_time_ms), changed=list(images))
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)
    return asdict(summary)


def _run_shards(shards: Sequence[str], budget: float, concurrency: int) -> list[ExportSummary]:
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.bootstrap import get_exporter

    exporter = get_exporter()
    try:
        if concurrency <= 1 or len(shards) == 1:
            return [exporter.run(budget, shards=[shard]) for shard in shards]
        with ThreadPoolExecutor(max_workers=min(concurrency, len(shards))) as pool:
            return list(pool.map(lambda shard: exporter.run(budget, shards=[shard]), shards))
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)


def _merge(summaries: Sequence[ExportSummary]) -> dict[str, Any]:
    """One summary of several runs: counts add up, flags, ages and waits take the worst, words
    (the last batch answered, the last error) the last one said."""
    total: dict[str, Any] = {}
    for summary in summaries:
        for key, value in asdict(summary).items():
            if isinstance(value, bool):
                total[key] = total.get(key, False) or value
            elif isinstance(value, str):  # the last run's word (a batch id, an error) wins
                total[key] = value or total.get(key, "")
            elif key in ("oldest_ready_age_seconds", "elapsed_seconds", "retry_after_seconds"):
                total[key] = max(total.get(key, 0.0), value)
            else:
                total[key] = total.get(key, 0) + value
    return total


def redrive() -> int:
    """Dead letters back in the export queue."""
    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.bootstrap import get_core

    core = get_core()
    count = DynamoDbExportQueue(core.aws.dynamodb(), owner="system:redrive", retention=core.policy).redrive(
        core.clock.now()
    )
    logger.info("dead letters re-driven", extra={"count": count})
    return count


# Who ends a backoff, in the journal: an operator's command, run with the export's rights.
RETRY_ACTOR = "operator:retry"


def retry() -> int:
    """End the backoff of every record waiting to retry (SI-DEP is back): they are due now, and the
    trigger or the next sweep sends them. Journaled: one `export_retry` event per pharmacy."""
    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.bootstrap import get_core
    from chalicelib.domain.audit_chain import AuditEvent

    core = get_core()
    done = DynamoDbExportQueue(core.aws.dynamodb(), owner="system:retry").end_backoff(core.clock.now())
    by_pharmacy: dict[str, list[str]] = {}
    for finess, record_id in done:
        by_pharmacy.setdefault(finess, []).append(record_id)
    for finess, ids in sorted(by_pharmacy.items()):
        core.journal.append(
            AuditEvent(
                action="export_retry",
                outcome="success",
                actor=RETRY_ACTOR,
                role="system",
                finess=finess,
                record_ids=tuple(ids),
                reason="backoff ended by an operator",
            )
        )
    logger.info("export backoff ended", extra={"count": len(done)})
    return len(done)


def scheduled_purge(remaining_time_ms: int) -> dict[str, Any]:
    """Erase what the retention policy says is due, within the Lambda's remaining time."""
    from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
    from chalicelib.bootstrap import get_core
    from chalicelib.services.retention import PurgeDeps, monotonic_budget, purge

    core = get_core()
    deps = PurgeDeps(store=DynamoDbRetentionStore(), journal=core.journal, policy=core.policy)
    try:
        report = purge(
            deps,
            core.clock.now(),
            time_left=monotonic_budget(_seconds_left(remaining_time_ms)),
        )
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)
    return report.to_json()


def checkpoint_audit() -> dict[str, int]:
    """Sign every chain's head (hourly, even if it did not move): a cut tail shows within the hour."""
    from chalicelib.bootstrap import build_checkpointer

    heads = build_checkpointer(get_settings()).checkpoint_all()
    logger.info("audit checkpoints signed", extra={"chains": len(heads)})
    return heads


def copy_audit_to_worm(records: list[dict[str, Any]]) -> dict[str, int]:
    """The audit stream's records to the WORM bucket (idempotent: Lambda may deliver a batch twice)."""
    from chalicelib.adapters.worm import S3WormCopy, copy_records
    from chalicelib.bootstrap import get_core

    core = get_core()
    return copy_records(records, S3WormCopy(core.aws.s3(), core.settings.audit_worm_bucket))


def review_access(records: list[dict[str, Any]]) -> dict[str, int]:
    """The journal's automatic review on the audit stream (services/review.py): each new link,
    grouped by pharmacy; raises (the batch is delivered again) if a store fails."""
    from chalicelib.bootstrap import build_review
    from chalicelib.services.review import review_links

    links = new_links(records)
    summary = review_links(build_review(get_settings()), links)  # its metric is written per alert
    logger.info("journal reviewed", extra=summary.to_json())
    return summary.to_json()


def new_links(records: list[dict[str, Any]]) -> list[StoredLink]:
    """The links an audit stream batch inserted, as the review reads them (bench/review_cost.py
    times this too)."""
    from chalicelib.adapters.dynamodb.audit_items import link_from_item
    from chalicelib.services.review import StoredLink

    links = []
    for record in records:
        body = record.get("dynamodb") if isinstance(record, dict) else None
        image = body.get("NewImage") if isinstance(body, dict) else None
        if not isinstance(image, dict) or record.get("eventName") != "INSERT":
            continue  # a rewrite (MODIFY) is the WORM consumer's to name; a REMOVE is TTL's
        link = link_from_item(image)
        if isinstance(link.event, dict):
            links.append(StoredLink(link.chain, link.seq, link.time, link.event))
    return links


def end_sessions_on_identity_event(detail: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """A Cognito call that ends a user's sessions (CloudTrail via EventBridge, or the local admin
    tool): their access tokens are refused from their next request (services/identity_events.py).
    `source` is the EventBridge envelope's; None from the local tool, which made the call itself."""
    from chalicelib.adapters.cognito import CognitoUserDirectory
    from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships
    from chalicelib.bootstrap import get_core
    from chalicelib.services.identity_events import IdentityEventDeps, end_sessions

    core = get_core()
    deps = IdentityEventDeps(
        memberships=DynamoDbMemberships(core.clock),
        users=CognitoUserDirectory(core.aws.cognito_idp(), core.settings.user_pool_id),
        journal=core.journal,
        clock=core.clock,
        user_pool_id=core.settings.user_pool_id,
    )
    ended = end_sessions(deps, detail) if source is None else end_sessions(deps, detail, source=source)
    if ended is None:
        logger.info("identity event ignored", extra={"call": str(detail.get("eventName"))})
        return {"ended": 0}
    logger.info(
        "sessions ended by the identity provider",
        extra={"call": ended.call, "actor": ended.username, "not_before": ended.not_before},
    )
    return {"ended": 0 if ended.username is None else 1}
