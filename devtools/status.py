"""Operator command: the service at a glance (`make status`).

    python -m devtools.status [--json] [--stack FILE | --stage NAME [--region R]]

- the export queue: records waiting per delivery state and shard, and how long the oldest due
  record has waited (the `ExportOldestReadyAgeSeconds` metric's definition);
- dead letters: records that gave up on SI-DEP (`redrive` them), and deployed, failed scheduled
  runs in the dead-letter queue;
- the last export run and its outcome counts (local: the summary the export writes in the
  stack's state dir; deployed: the export's CloudWatch metrics of the last hour);
- each audit chain's head, last signed checkpoint and its age (the `checkpoint_audit` schedule
  signs every head hourly, even unmoved; `make run` every minute);
- records SI-DEP never acknowledged whose personal data is erased within RETENTION_ALARM_DAYS.

Reads only (the operator role's reads, devtools/target.py finds the service).
Exit status: 0 nothing needs attention; 1 something does (listed last); 2 could not run.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.audit_chain import CHECKPOINT_PERIOD, STALE_AFTER_PERIODS
from devtools import cli
from devtools.target import Target

# A chain whose last checkpoint is older than this missed its heartbeat (what verify_audit calls stale).
CHECKPOINT_STALE_AFTER = STALE_AFTER_PERIODS * CHECKPOINT_PERIOD
# Deployed: the export's metrics read back this far for its last run.
LAST_RUN_LOOKBACK = timedelta(hours=1)
EXPORT_OUTCOME_METRICS = {
    "ExportSent": "sent",
    "ExportAcknowledged": "acknowledged",
    "ExportRejected": "rejected",
    "ExportRetried": "retried",
    "ExportFailed": "failed",
}


RETRYING = "ready (retry)"  # ready again after a failed attempt, waiting for its backoff


def export_queue(client: Any, table: str, now: datetime) -> dict[str, Any]:
    """Every record with a message waiting, counted by delivery state and shard (the sparse index)."""
    from chalicelib.adapters.dynamodb.export_queue import INDEX
    from chalicelib.adapters.dynamodb.models import export_queue_keys
    from chalicelib.domain.serialization import iso_utc, parse_iso

    bound = iso_utc(now)
    by_state: dict[str, Counter[str]] = {}
    oldest_due: str | None = None
    for shard in export_queue_keys():
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": INDEX,
            "KeyConditionExpression": "export_queue = :q",
            "ExpressionAttributeValues": {":q": {"S": shard}},
            "Select": "SPECIFIC_ATTRIBUTES",  # the operator role reads these attributes only
            "ProjectionExpression": "delivery_state, next_attempt_at, attempts",
        }
        while True:
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                state = item.get("delivery_state", {}).get("S", "?")
                if state == "ready" and int(item.get("attempts", {}).get("N", "0")):
                    state = RETRYING
                by_state.setdefault(state, Counter())[shard] += 1
                due = item.get("next_attempt_at", {}).get("S")
                if due and due <= bound and (oldest_due is None or due < oldest_due):
                    oldest_due = due
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    age = (now - parse_iso(oldest_due)).total_seconds() if oldest_due else None
    return {
        "shards": export_queue_keys(),
        "by_state": {state: dict(sorted(counts.items())) for state, counts in sorted(by_state.items())},
        "total": sum(sum(c.values()) for c in by_state.values()),
        "oldest_due_age_seconds": age,
    }


def dead_letters(client: Any, table: str) -> int:
    """Records whose retries ran out (a scan: dead letters are not in the queue index)."""
    from chalicelib.domain.model import DeliveryState

    count = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "FilterExpression": "delivery_state = :failed",
        "ExpressionAttributeValues": {":failed": {"S": DeliveryState.FAILED.value}},
    }
    while True:
        page = client.scan(**kwargs)
        count += int(page.get("Count", 0))
        if not page.get("LastEvaluatedKey"):
            return count
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def failed_scheduled_runs(target: Target, session: Any) -> int | None:
    url = target.outputs.get("DeadLetterQueueUrl")
    if not url:
        return None
    answer = session.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])


def last_export_run(target: Target, session: Any, now: datetime) -> dict[str, Any] | None:
    if target.kind != "deployed":
        from devtools.export import read_last_run

        return read_last_run(target.last_export_run)
    cloudwatch = session.client("cloudwatch")
    latest: dict[str, Any] = {}
    for metric, name in EXPORT_OUTCOME_METRICS.items():
        points = cloudwatch.get_metric_statistics(
            Namespace="Depistage",
            MetricName=metric,
            Dimensions=[{"Name": "service", "Value": "depistage"}],
            StartTime=now - LAST_RUN_LOOKBACK,
            EndTime=now,
            Period=300,
            Statistics=["Sum"],
        ).get("Datapoints", [])
        if points:
            point = max(points, key=lambda p: p["Timestamp"])
            latest.setdefault("finished_at", point["Timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ"))
            latest.setdefault("summary", {})[name] = int(point["Sum"])
    return latest or None


def audit_chains(chain_names: Any, now: datetime) -> list[dict[str, Any]]:
    """Each chain's head and last checkpoint (one newest-first query of each table per chain)."""
    from chalicelib.adapters.dynamodb.journal import latest_checkpoint
    from chalicelib.adapters.dynamodb.models import AuditEventModel
    from chalicelib.domain.serialization import parse_iso

    chains = []
    for chain in sorted(chain_names):
        head = next(iter(AuditEventModel.query(chain, scan_index_forward=False, limit=1)), None)
        checkpoint = latest_checkpoint(chain)
        head_seq = int(head.seq) if head else None
        checkpoint_seq = checkpoint.head_seq if checkpoint else None
        checked_at = parse_iso(checkpoint.signed_at) if checkpoint else None
        since = checked_at or (parse_iso(head.time) if head else None)
        # The heartbeat signs every head hourly, moved or not: an old last checkpoint is the alarm.
        stale = bool(
            since is not None
            and (head_seq is not None or checked_at)
            and now - since > CHECKPOINT_STALE_AFTER
        )
        chains.append(
            {
                "chain": chain,
                "head_seq": head_seq,
                "checkpoint_seq": checkpoint_seq,
                "checkpoint_age_seconds": (now - checked_at).total_seconds() if checked_at else None,
                "events_since_checkpoint": (head_seq or 0) - (checkpoint_seq or 0),
                "stale": stale,
            }
        )
    return chains


def near_cap(settings: Any, now: datetime) -> list[str]:
    """Records never acknowledged by SI-DEP whose personal data goes within the alarm window."""
    from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
    from chalicelib.domain.retention import alarm_days, near_cap_unacknowledged, utc_day
    from chalicelib.services.retention import retention_policy

    policy = retention_policy(settings)
    store = DynamoDbRetentionStore()
    today = utc_day(now)
    return sorted(
        facts.record_id
        for day in alarm_days(today, policy)
        for facts in store.on_erase_day(day)
        if near_cap_unacknowledged(facts, today, policy)
    )


def collect(target: Target, now: datetime | None = None) -> dict[str, Any]:
    import boto3

    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.export_queue import quarantined_count
    from chalicelib.adapters.dynamodb.journal import stored_chains
    from chalicelib.bootstrap import bind_tables
    from devtools.verify_audit import quarantined_items

    settings = target.settings()
    bind_tables(settings)
    now = now or SystemClock().now()
    session = boto3.Session(region_name=settings.region)
    dynamodb = session.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    steps = 5
    with cli.progress("reading the service's state", total=steps) as bar:
        queue = export_queue(dynamodb, settings.records_table, now)
        bar.advance(1, "dead letters")
        letters: dict[str, int | None] = {"records": dead_letters(dynamodb, settings.records_table)}
        letters["scheduled_runs"] = failed_scheduled_runs(target, session)
        bar.advance(1, "last export run")
        last_run = last_export_run(target, session, now)
        bar.advance(1, "audit chains")
        chains = audit_chains(stored_chains(), now)
        bar.advance(1, "retention")
        capped = near_cap(settings, now)
        bar.advance(1)
    status: dict[str, Any] = {
        "target": target.source,
        "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "export_queue": queue,
        "export_quarantined": quarantined_count(dynamodb, settings.records_table),
        "dead_letters": letters,
        "last_export_run": last_run,
        "audit_chains": chains,
        "audit_quarantined": quarantined_items(settings, session),  # devtools/verify_audit.py
        "retention": {"alarm_days": settings.retention_alarm_days, "unacknowledged_near_cap": capped},
    }
    status["attention"] = attention(status)
    return status


def attention(status: dict[str, Any]) -> list[str]:
    found = []
    letters = status["dead_letters"]
    if letters["records"]:
        found.append(f"{letters['records']} dead letter(s): make redrive once SI-DEP answers")
    if letters.get("scheduled_runs"):
        found.append(f"{letters['scheduled_runs']} failed scheduled run(s) in the dead-letter queue")
    last = status["last_export_run"] or {}
    if (last.get("summary") or {}).get("failed"):
        found.append("the last export run made dead letters: see the export log")
    stale = [c["chain"] for c in status["audit_chains"] if c["stale"]]
    if stale:
        found.append(f"audit chain(s) without a signed checkpoint for over 2 h: {', '.join(stale)}")
    capped = status["retention"]["unacknowledged_near_cap"]
    if capped:
        found.append(f"{len(capped)} record(s) never acknowledged by SI-DEP near the retention cap")
    return found


def show(status: dict[str, Any], out: cli.Output) -> None:
    queue = status["export_queue"]
    out.line(f"depistage status, {status['target']}, at {status['now']}")
    out.line()
    out.line(
        f"export queue: {queue['total']} record(s) waiting; "
        f"oldest due for {cli.age(queue['oldest_due_age_seconds'])}"
    )
    if queue["by_state"]:
        shards = queue["shards"]
        rows = [
            (state, *(counts.get(s, 0) for s in shards), sum(counts.values()))
            for state, counts in queue["by_state"].items()
        ]
        out.table(["state", *shards, "total"], rows)
    letters = status["dead_letters"]
    runs = letters.get("scheduled_runs")
    out.line(
        f"dead letters: {letters['records']} record(s)"
        + (f", {runs} failed scheduled run(s)" if runs is not None else "")
    )
    last = status["last_export_run"]
    if last:
        out.line(f"last export run: {_run_line(last)}")
        if last.get("last_busy") and last["last_busy"] != {k: last[k] for k in ("finished_at", "summary")}:
            out.line(f"last run that had records to send: {_run_line(last['last_busy'])}")
    else:
        out.line("last export run: none recorded")
    out.line()
    chains = status["audit_chains"]
    out.line(f"audit chains: {len(chains)}")
    out.table(
        ["chain", "head seq", "checkpoint seq", "checkpoint age", "since"],
        [
            (
                c["chain"],
                c["head_seq"] if c["head_seq"] is not None else "-",
                c["checkpoint_seq"] if c["checkpoint_seq"] is not None else "-",
                cli.age(c["checkpoint_age_seconds"]) + (" (stale)" if c["stale"] else ""),
                f"+{c['events_since_checkpoint']} event(s)",
            )
            for c in chains
        ],
    )
    out.line(f"audit items set aside by the journal's watchers: {status.get('audit_quarantined', '-')}")
    out.line()
    retention = status["retention"]
    out.line(
        f"retention: {len(retention['unacknowledged_near_cap'])} record(s) never acknowledged by SI-DEP "
        f"within {retention['alarm_days']} day(s) of the cap"
    )
    for record_id in retention["unacknowledged_near_cap"][:20]:
        out.line(f"  {record_id}")
    out.line()
    if status["attention"]:
        out.line("needs attention:")
        for item in status["attention"]:
            out.line(f"  ! {item}")
    else:
        out.line("nothing needs attention")


def _run_line(run: dict[str, Any]) -> str:
    summary = run.get("summary") or {}
    counts = ", ".join(f"{k} {summary[k]}" for k in _RUN_FIELDS if k in summary)
    return f"{run.get('finished_at', '?')}: {counts or 'nothing to send'}"


_RUN_FIELDS = ("leased", "sent", "acknowledged", "rejected", "retried", "failed", "skipped")


def status_now(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    status = collect(target)
    show(status, out)
    out.document(status)
    return cli.EXIT_ATTENTION if status["attention"] else cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.parser("status", (__doc__ or "").split("\n", 1)[0]).parse_args(argv)
    return cli.run("status", args, status_now)


if __name__ == "__main__":
    sys.exit(main())
