"""The bodies of the scheduled jobs, shared by the Chalice schedules (api/schedules.py) and the
operator commands (devtools/): the SI-DEP export, the retention purge, the audit checkpoints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.config import get_settings
from chalicelib.observability import logger, metrics

# Time kept back from the Lambda's remaining time: the last writes, the metrics flush, shutdown.
LAMBDA_SAFETY_SECONDS = 20.0


def _seconds_left(remaining_time_ms: int) -> float:
    return max(0.0, remaining_time_ms / 1000.0 - LAMBDA_SAFETY_SECONDS)


def scheduled_export(remaining_time_ms: int) -> dict[str, Any]:
    """One export run within the configured budget and the Lambda's remaining time."""
    from chalicelib.bootstrap import build_exporter

    settings = get_settings()
    budget = min(float(settings.export_time_budget_seconds), _seconds_left(remaining_time_ms))
    try:
        summary = build_exporter(settings)(budget)
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)
    return asdict(summary)


def redrive() -> int:
    """Dead letters back in the export queue."""
    from chalicelib.adapters.dynamodb.delivery import DynamoDbExportQueue
    from chalicelib.bootstrap import get_container

    container = get_container()
    count = DynamoDbExportQueue(
        container.aws("dynamodb"), owner="system:redrive", retention=container.purge.policy
    ).redrive(container.clock.now())
    logger.info("dead letters re-driven", extra={"count": count})
    return count


def scheduled_purge(remaining_time_ms: int) -> dict[str, Any]:
    """Erase what the retention policy says is due, within the Lambda's remaining time."""
    from chalicelib.bootstrap import get_container
    from chalicelib.services.retention import monotonic_budget, purge

    container = get_container()
    try:
        report = purge(
            container.purge,
            container.clock.now(),
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
    from chalicelib.bootstrap import get_container

    container = get_container()
    return copy_records(records, S3WormCopy(container.aws("s3"), container.settings.audit_worm_bucket))
