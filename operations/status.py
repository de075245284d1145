"""Operator command: the service at a glance (`make status`).

    python -m operations.status [--json] [--stack FILE | --stage NAME [--region R]]

- the export queue: records waiting per delivery state and shard, and how long the oldest due
  record has waited (the `ExportOldestReadyAgeSeconds` metric's definition);
- dead letters: records that gave up on SI-DEP (`redrive` them), and deployed, failed scheduled
  runs in the dead-letter queue;
- the last export run and its outcome counts (local: the summary the export writes in the
  stack's state dir; deployed: the export's CloudWatch metrics of the last hour);
- each audit chain's head, last signed checkpoint and its age (the `checkpoint_audit` schedule
  signs every head hourly, even unmoved; `make run` every minute);
- records SI-DEP never acknowledged whose personal data is erased within RETENTION_ALARM_DAYS;
- per pharmacy, the journal review's alerts nobody acknowledged: how many, the newest's detector
  and time (identifiers only; the pharmacy's admins read and acknowledge them through the API).

Reads only (the operator role's reads, operations/target.py finds the service).
Exit status: 0 nothing needs attention; 1 something does (listed last); 2 could not run.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.audit_chain import CHECKPOINT_PERIOD, STALE_AFTER_PERIODS
from infra import thresholds
from operations import cli
from operations.target import Target

# A chain whose last checkpoint is older than this missed its heartbeat (what verify_audit calls stale).
CHECKPOINT_STALE_AFTER = STALE_AFTER_PERIODS * CHECKPOINT_PERIOD
# Deployed: the export's metrics read back this far for its last run.
LAST_RUN_LOOKBACK = timedelta(hours=1)
# The WORM lag reads at most this many links back from each chain's head.
WORM_LOOKBACK_LINKS = 1000
EXPORT_OUTCOME_METRICS = {
    "ExportSent": "sent",
    "ExportAcknowledged": "acknowledged",
    "ExportRejected": "rejected",
    "ExportRetried": "retried",
    "ExportFailed": "failed",
}


# The export queue's steps (chalicelib/domain/delivery.py's Journey).
QUEUED, RETRYING, SENDING = "queued", "retrying", "sending"


def export_queue(client: Any, table: str, now: datetime) -> dict[str, Any]:
    """Every record with a message waiting (the sparse index), by step of its journey and shard:
    queued (first attempt due), retrying (waiting out a backoff, with its last error's category),
    sending (leased); and how long the oldest due record has waited (`ExportOldestReadyAgeSeconds`)."""
    from chalicelib.adapters.dynamodb.export_writes import INDEX
    from chalicelib.adapters.dynamodb.models import export_queue_keys
    from chalicelib.adapters.sidep.transport import MAX_RETRY_AFTER_SECONDS
    from chalicelib.domain.delivery import BackoffPolicy, error_category
    from chalicelib.domain.serialization import iso_utc, stored_moment

    bound = iso_utc(now)
    by_state: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    oldest_due: str | None = None
    oldest_set: str | None = None
    latest_retry: str | None = None
    # No backoff, Retry-After or lease waits longer than this: a later due time was written by hand.
    far_seconds = 2 * max(BackoffPolicy.cap_seconds, MAX_RETRY_AFTER_SECONDS)
    far = iso_utc(now + timedelta(seconds=far_seconds))
    held_far = 0
    for shard in export_queue_keys():
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": INDEX,
            "KeyConditionExpression": "export_queue = :q",
            "ExpressionAttributeValues": {":q": {"S": shard}},
            "Select": "SPECIFIC_ATTRIBUTES",  # the operator role reads these attributes only
            "ProjectionExpression": "delivery_state, next_attempt_at, attempts, last_error, updated_at",
        }
        while True:
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                state = _queue_step(item)
                by_state.setdefault(state, Counter())[shard] += 1
                due = item.get("next_attempt_at", {}).get("S")
                if state == RETRYING:
                    errors[error_category(item.get("last_error", {}).get("S")).value] += 1
                    if due and (latest_retry is None or due > latest_retry):
                        latest_retry = due
                if due and due <= bound:
                    oldest_due = _older(oldest_due, due)
                if due and due > far:
                    held_far += 1
                oldest_set = _older(oldest_set, item.get("updated_at", {}).get("S"))
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    age = (now - stored_moment(oldest_due)).total_seconds() if oldest_due else None
    return {
        "shards": export_queue_keys(),
        "by_state": {state: dict(sorted(counts.items())) for state, counts in sorted(by_state.items())},
        "total": sum(sum(c.values()) for c in by_state.values()),
        "queued": sum(by_state.get(QUEUED, {}).values()),
        "retrying": sum(by_state.get(RETRYING, {}).values()),
        "sending": sum(by_state.get(SENDING, {}).values()),
        "retrying_errors": dict(errors.most_common()),
        "retrying_until": latest_retry,
        "oldest_due_age_seconds": age,
        "oldest_set_at": oldest_set,
        "held_far": held_far,
        "held_far_seconds": far_seconds,
    }


def _queue_step(item: dict[str, Any]) -> str:
    state = item.get("delivery_state", {}).get("S", "?")
    if state == "ready":
        # any number DynamoDB holds (a writer may store 1.5): one crafted item must not stop `status`
        return RETRYING if Decimal(item.get("attempts", {}).get("N", "0")) else QUEUED
    return SENDING if state == "leased" else state


def _older(a: str | None, b: str | None) -> str | None:
    """The older of two stored times (writer-controlled: one that is no time counts as the oldest,
    and alarms, rather than stopping `status`), in iso_utc form."""
    from chalicelib.domain.serialization import iso_utc, stored_moment

    if b is None:
        return a
    b = iso_utc(stored_moment(b))
    return b if a is None or b < a else a


def held_back(client: Any, table: str) -> dict[str, Any]:
    """Records out of the queue that still owe SI-DEP something: dead letters (retries ran out:
    `redrive` them), rejections (the pharmacy corrects them), by pharmacy and code, and records
    stranded: queued or in flight by their state, yet in no export queue and not set aside by the
    export (someone with the API's or the export's rights removed the entry). A scan: none is in
    the queue index."""
    from chalicelib.domain.delivery import rejection_of
    from chalicelib.domain.model import DeliveryState

    dead: Counter[str] = Counter()
    rejected: Counter[tuple[str, str, str]] = Counter()
    stranded: Counter[str] = Counter()
    oldest_dead: str | None = None
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": (
            "delivery_state IN (:failed, :rejected) OR (delivery_state IN (:ready, :leased)"
            " AND attribute_not_exists(export_queue) AND attribute_not_exists(export_quarantined_at)"
            " AND attribute_not_exists(erased_at))"  # the hard cap erases an owed record: not stranded
        ),
        "ExpressionAttributeValues": {
            ":failed": {"S": DeliveryState.FAILED.value},
            ":rejected": {"S": DeliveryState.REJECTED.value},
            ":ready": {"S": DeliveryState.READY.value},
            ":leased": {"S": DeliveryState.LEASED.value},
        },
        "ProjectionExpression": "finess, delivery_state, last_error, updated_at",
    }
    while True:
        page = client.scan(**kwargs)
        for item in page.get("Items", []):
            finess = item.get("finess", {}).get("S", "?")
            state = item.get("delivery_state", {}).get("S")
            if state in (DeliveryState.READY.value, DeliveryState.LEASED.value):
                stranded[finess] += 1
            elif state == DeliveryState.FAILED.value:
                dead[finess] += 1
                oldest_dead = _older(oldest_dead, item.get("updated_at", {}).get("S"))
            else:
                view = rejection_of(item.get("last_error", {}).get("S"))
                rejected[(finess, view["code"] or "-", view["category"])] += 1
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {
        "dead_letters": sum(dead.values()),
        "dead_letters_by_pharmacy": dict(sorted(dead.items())),
        "oldest_dead_letter_set_at": oldest_dead,
        "rejected": sum(rejected.values()),
        "rejected_by_code": [
            {"finess": f, "code": code, "category": category, "records": n}
            for (f, code, category), n in sorted(rejected.items())
        ],
        "stranded": sum(stranded.values()),
        "stranded_by_pharmacy": dict(sorted(stranded.items())),
    }


def failed_scheduled_runs(target: Target, session: Any) -> int | None:
    url = target.outputs.get("DeadLetterQueueUrl")
    if not url:
        return None
    answer = session.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])


def metric_sums(cloudwatch: Any, metric: str, now: datetime, *, period: int) -> list[dict[str, Any]]:
    """The service's metric, summed per `period` seconds over the last LAST_RUN_LOOKBACK (the
    namespace and dimension the service emits with: chalicelib/observability.py)."""
    from chalicelib.observability import NAMESPACE, SERVICE

    points: list[dict[str, Any]] = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "service", "Value": SERVICE}],
        StartTime=now - LAST_RUN_LOOKBACK,
        EndTime=now,
        Period=period,
        Statistics=["Sum"],
    ).get("Datapoints", [])
    return points


def last_export_run(target: Target, session: Any, now: datetime) -> dict[str, Any] | None:
    if target.kind != "deployed":
        from operations.export import read_last_run

        return read_last_run(target.last_export_run)
    cloudwatch = session.client("cloudwatch")
    latest: dict[str, Any] = {}
    for metric, name in EXPORT_OUTCOME_METRICS.items():
        points = metric_sums(cloudwatch, metric, now, period=300)
        if points:
            point = max(points, key=lambda p: p["Timestamp"])
            latest.setdefault("finished_at", point["Timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ"))
            latest.setdefault("summary", {})[name] = int(point["Sum"])
    return latest or None


def sidep_health(
    target: Target, session: Any, now: datetime, last_run: dict[str, Any] | None
) -> dict[str, Any]:
    """Is SI-DEP getting our results: the last batch it acknowledged, and whether (and since when,
    why) batches get no answer. Local: what the export runs noted (operations/export.py); deployed:
    the export's metrics of the last hour (ExportAcknowledged, ExportBatchesFailed)."""
    from chalicelib.domain.serialization import parse_iso

    last_ack: dict[str, Any] | None
    failing: dict[str, Any] | None
    last_rejected: dict[str, Any] | None
    if target.kind == "deployed":
        acknowledged_at, failing_since, failed_at, rejected_at = _sidep_from_metrics(session, now)
        last_ack = {"at": acknowledged_at, "batch_id": None} if acknowledged_at else None
        last_rejected = {"at": rejected_at} if rejected_at else None
        failing = (
            {"since": failing_since, "category": None, "error": None, "retry_after_seconds": None}
            if failed_at and (not acknowledged_at or failed_at > acknowledged_at)
            else None
        )
    else:
        last_ack = (last_run or {}).get("last_acknowledged")
        failing = (last_run or {}).get("failing")
        last_rejected = (last_run or {}).get("last_rejected")
    health: dict[str, Any] = {
        "last_acknowledged": last_ack,
        "last_acknowledged_age_seconds": (
            (now - parse_iso(str(last_ack["at"]))).total_seconds() if last_ack else None
        ),
        "failing": failing,
        "failing_for_seconds": (
            (now - parse_iso(str(failing["since"]))).total_seconds()
            if failing and failing.get("since")
            else None
        ),
        "alarm_after_seconds": thresholds.SIDEP_FAILING_SECONDS,
        "last_rejected_age_seconds": (
            (now - parse_iso(str(last_rejected["at"]))).total_seconds() if last_rejected else None
        ),
    }
    return health


def _sidep_from_metrics(session: Any, now: datetime) -> tuple[str | None, str | None, str | None, str | None]:
    """(last minute with an acknowledgement, first minute of failures since, last minute with one,
    last minute with a rejection)."""
    cloudwatch = session.client("cloudwatch")

    def minutes(metric: str) -> list[str]:
        points = metric_sums(cloudwatch, metric, now, period=60)
        return sorted(p["Timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ") for p in points if p["Sum"] > 0)

    acked, failed = minutes("ExportAcknowledged"), minutes("ExportBatchesFailed")
    rejected = minutes("ExportRejected")
    last_ack = acked[-1] if acked else None
    since = [m for m in failed if last_ack is None or m > last_ack]
    return (
        last_ack,
        (since[0] if since else None),
        (failed[-1] if failed else None),
        (rejected[-1] if rejected else None),
    )


def audit_chains(chain_names: Any, now: datetime, worm: Any = None) -> list[dict[str, Any]]:
    """Each chain's head and last checkpoint (one newest-first query of each table per chain), and
    with `worm` (an S3 client and bucket) how far its WORM copy lags behind."""
    chains = []
    for chain in sorted(chain_names):
        try:
            chains.append(_audit_chain(chain, now, worm))
        except (ValueError, TypeError, AttributeError, OverflowError):
            # a head or checkpoint a writer made unreadable: named (as stale), not the end of `status`
            chains.append(_unreadable_chain(chain))
    return chains


def _unreadable_chain(chain: str) -> dict[str, Any]:
    return {
        "chain": chain,
        "head_seq": None,
        "checkpoint_seq": None,
        "checkpoint_age_seconds": None,
        "events_since_checkpoint": 0,
        "stale": True,
        "unreadable": True,
    }


def _audit_chain(chain: str, now: datetime, worm: Any) -> dict[str, Any]:
    from chalicelib.adapters.dynamodb.audit_items import latest_checkpoint
    from chalicelib.adapters.dynamodb.models import AuditEventModel
    from chalicelib.domain.serialization import parse_iso

    head = next(iter(AuditEventModel.query(chain, scan_index_forward=False, limit=1)), None)
    checkpoint = latest_checkpoint(chain)
    head_seq = int(head.seq) if head else None
    checkpoint_seq = checkpoint.head_seq if checkpoint else None
    checked_at = parse_iso(checkpoint.signed_at) if checkpoint else None
    since = checked_at or (parse_iso(head.time) if head else None)
    # The heartbeat signs every head hourly, moved or not: an old last checkpoint is the alarm.
    stale = bool(
        since is not None and (head_seq is not None or checked_at) and now - since > CHECKPOINT_STALE_AFTER
    )
    entry: dict[str, Any] = {
        "chain": chain,
        "head_seq": head_seq,
        "checkpoint_seq": checkpoint_seq,
        "checkpoint_age_seconds": (now - checked_at).total_seconds() if checked_at else None,
        "events_since_checkpoint": (head_seq or 0) - (checkpoint_seq or 0),
        "stale": stale,
    }
    if worm is not None:
        entry.update(worm_lag(worm, chain, head_seq, now))
    return entry


def worm_lag(worm: tuple[Any, str], chain: str, head_seq: int | None, now: datetime) -> dict[str, Any]:
    """The newest link copied to the WORM bucket, and the age of the oldest link not yet copied."""
    from chalicelib.adapters.dynamodb.models import AuditEventModel
    from chalicelib.adapters.worm import key_names, object_key
    from chalicelib.domain.serialization import parse_iso

    s3, bucket = worm
    copied: int | None = None
    prefix = object_key(chain, 1).rsplit("/", 1)[0] + "/"  # seq 1: every chain's first key
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if head_seq is not None and head_seq > WORM_LOOKBACK_LINKS:
        kwargs["StartAfter"] = object_key(chain, head_seq - WORM_LOOKBACK_LINKS)
    while True:
        page = s3.list_objects_v2(**kwargs)
        for item in page.get("Contents", []):
            names = key_names(item["Key"])  # only a key object_key writes, of this chain
            if names is not None and names[0] == chain:
                copied = max(copied or 0, names[1])
        if not page.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    lag = None
    behind = (head_seq or 0) - (copied or 0)
    if behind > 0:
        first_uncopied = next(
            iter(AuditEventModel.query(chain, AuditEventModel.seq == (copied or 0) + 1)), None
        )
        lag = (now - parse_iso(first_uncopied.time)).total_seconds() if first_uncopied else None
    return {"worm_seq": copied, "worm_behind": max(0, behind), "worm_lag_seconds": lag}


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


def quarantined(target: Target, session: Any, settings: Any) -> dict[str, int]:
    """Items a watcher set aside (name -> count): each watcher adds its own count here, one line."""
    from chalicelib.adapters.dynamodb.export_operator_actions import quarantined_count
    from operations.verify_audit import quarantined_items

    dynamodb = session.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    counts: dict[str, int] = {"export": quarantined_count(dynamodb, settings.records_table)}
    audit = quarantined_items(settings, session)  # the journal's watchers (WORM consumer, signer)
    if audit is not None:
        counts["audit"] = audit
    return counts


def open_alerts(client: Any, table: str) -> list[dict[str, Any]] | None:
    """Per pharmacy, its alerts nobody acknowledged (the sparse `open` index: an acknowledged alert
    is not in it): how many, and the newest one's detector and time. Keys, the detector and times
    only: never an alert's subject or records. None if the stage has no alerts table (an outage:
    `attention` names it)."""
    from chalicelib.adapters.dynamodb.models import AlertModel

    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": AlertModel.open_alerts.Meta.index_name,
        "FilterExpression": "attribute_exists(open_since)",
        "ProjectionExpression": "finess, detector, raised_at",
    }
    while True:
        try:
            page = client.scan(**kwargs)
        except client.exceptions.ResourceNotFoundException:
            return None
        for item in page.get("Items", []):
            finess = item.get("finess", {}).get("S", "?")
            entry = found.setdefault(
                finess, {"finess": finess, "unacknowledged": 0, "newest_detector": None, "newest_at": None}
            )
            entry["unacknowledged"] += 1
            raised = item.get("raised_at", {}).get("S")
            if raised and (entry["newest_at"] is None or raised > entry["newest_at"]):
                entry["newest_at"], entry["newest_detector"] = raised, item.get("detector", {}).get("S")
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [found[finess] for finess in sorted(found)]


def collect(target: Target, now: datetime | None = None, *, verbose: int = 0) -> dict[str, Any]:
    import boto3

    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.audit_items import stored_chains
    from chalicelib.bootstrap import bind_tables
    from chalicelib.domain.serialization import stored_moment

    settings = target.settings()
    bind_tables(settings)
    now = now or SystemClock().now()
    session = boto3.Session(region_name=settings.region)
    dynamodb = session.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    worm = None
    if settings.audit_worm_bucket:
        worm = (session.client("s3", endpoint_url=settings.aws_endpoint_url), settings.audit_worm_bucket)
    steps = 7
    with cli.progress("reading the service's state", total=steps) as bar:
        bar.advance(0, "the export queue")
        queue = export_queue(dynamodb, settings.records_table, now)
        bar.advance(1, f"the export queue: {queue['total']} record(s); dead letters and rejections")
        held = held_back(dynamodb, settings.records_table)
        letters: dict[str, int | None] = {"records": held["dead_letters"]}
        letters["scheduled_runs"] = failed_scheduled_runs(target, session)
        bar.advance(
            1, f"{held['dead_letters']} dead letter(s), {held['rejected']} rejected; the last export run"
        )
        last_run = last_export_run(target, session, now)
        sidep = sidep_health(target, session, now, last_run)
        bar.advance(1, "audit chains and their WORM copy")
        chains = audit_chains(stored_chains(), now, worm)
        bar.advance(1, f"{len(chains)} chain(s); retention")
        capped = near_cap(settings, now)
        bar.advance(1, "quarantines")
        set_aside = quarantined(target, session, settings)
        bar.advance(1, "the review's open alerts")
        alerts = open_alerts(dynamodb, settings.alerts_table)
        bar.advance(1, "done")
    oldest = _older(queue["oldest_set_at"], held["oldest_dead_letter_set_at"])
    sidep["waiting"] = {
        "queued": queue["queued"],
        "sending": queue["sending"],
        "retrying": queue["retrying"],
        "rejected": held["rejected"],
        "dead_letters": held["dead_letters"],
    }
    sidep["retrying_errors"] = queue["retrying_errors"]
    sidep["oldest_unacknowledged_age_seconds"] = (
        (now - stored_moment(oldest)).total_seconds() if oldest else None
    )
    status: dict[str, Any] = {
        "target": target.source,
        "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sidep": sidep,
        "export_queue": queue,
        "dead_letters": letters,
        "rejected": held["rejected_by_code"],
        "stranded": {k: held[k] for k in ("stranded", "stranded_by_pharmacy")},
        "last_export_run": last_run,
        "audit_chains": chains,
        "retention": {"alarm_days": settings.retention_alarm_days, "unacknowledged_near_cap": capped},
        "quarantined": set_aside,
        "alerts": alerts,
        "thresholds": {
            "sidep_failing_seconds": thresholds.SIDEP_FAILING_SECONDS,
            "oldest_unacknowledged_seconds": thresholds.OLDEST_UNACKNOWLEDGED_SECONDS,
            "worm_lag_seconds": thresholds.WORM_LAG_SECONDS,
            "checkpoint_stale_seconds": thresholds.CHECKPOINT_STALE_SECONDS,
        },
    }
    status["attention"] = attention(status)
    return status


def _failing_reason(sidep: dict[str, Any]) -> str | None:
    """SI-DEP's trouble in one line, or None when it answers (or nobody waits)."""
    waiting = sidep["waiting"]
    failing = sidep["failing"]
    errors = sidep["retrying_errors"]
    if not failing and not waiting["retrying"]:
        return None
    category = (failing or {}).get("category") or (next(iter(errors)) if errors else "unknown")
    retry_after = (failing or {}).get("retry_after_seconds")
    why = f"{category}" + (f", Retry-After {int(retry_after)}s" if retry_after else "")
    if failing:
        since = failing.get("since")
        for_seconds = sidep["failing_for_seconds"]
        alarm = " (alarm)" if for_seconds is not None and for_seconds >= sidep["alarm_after_seconds"] else ""
        head = f"SI-DEP is failing ({why}) for {cli.age(for_seconds)}{alarm}" + (
            f" since {since}" if since else ""
        )
        return f"{head}: {waiting['retrying']} record(s) waiting to retry, {waiting['queued']} queued"
    return (
        f"SI-DEP answers again, but {waiting['retrying']} record(s) wait out a backoff after {why}: "
        "make retry sends them now"
    )


def _sidep_attention(status: dict[str, Any]) -> list[str]:
    """SI-DEP failing, or a result it has not acknowledged for too long."""
    sidep = status.get("sidep")
    if not sidep:
        return []
    found = []
    reason = _failing_reason(sidep)
    if reason:
        found.append(reason)
    oldest = sidep["oldest_unacknowledged_age_seconds"]
    if oldest is not None and oldest >= thresholds.OLDEST_UNACKNOWLEDGED_SECONDS:
        found.append(
            f"the oldest result SI-DEP has not acknowledged was set {cli.age(oldest)} ago "
            f"(alarm after {cli.age(thresholds.OLDEST_UNACKNOWLEDGED_SECONDS)})"
        )
    return found


def _unsent_attention(status: dict[str, Any]) -> list[str]:
    """Records no export run will send: held far in the queue, or in no queue at all."""
    found = []
    queue = status.get("export_queue") or {}
    if queue.get("held_far"):
        found.append(
            f"{queue['held_far']} record(s) in the export queue not due for over "
            f"{cli.age(queue['held_far_seconds'])}, longer than any backoff or Retry-After (a due time "
            "written outside the export): no run sends them"
        )
    stranded = status.get("stranded") or {}
    if stranded.get("stranded"):
        found.append(
            f"{stranded['stranded']} record(s) owe SI-DEP a message but are in no export queue (their "
            "entry was removed outside the export): "
            + ", ".join(f"{f} x{n}" for f, n in stranded["stranded_by_pharmacy"].items())
        )
    return found


def _dead_letter_attention(status: dict[str, Any]) -> list[str]:
    found = []
    letters = status["dead_letters"]
    if letters["records"]:
        found.append(f"{letters['records']} dead letter(s): make redrive once SI-DEP answers")
    if letters.get("scheduled_runs"):
        found.append(f"{letters['scheduled_runs']} failed scheduled run(s) in the dead-letter queue")
    last = status["last_export_run"] or {}
    if (last.get("summary") or {}).get("failed") and not letters["records"]:
        found.append("the last export run made dead letters: see the export log")
    return found


def _rejection_attention(status: dict[str, Any]) -> list[str]:
    """Rejections while one is recent: older ones stay listed but hold `status` at 1 no longer."""
    rejected = status.get("rejected") or []
    recent = (status.get("sidep") or {}).get("last_rejected_age_seconds")
    if not (rejected and recent is not None and recent < thresholds.REJECTIONS_WINDOW_SECONDS):
        return []
    total = sum(r["records"] for r in rejected)
    codes = ", ".join(f"{r['code']} {r['category']} x{r['records']} ({r['finess']})" for r in rejected[:5])
    return [f"{total} record(s) rejected by SI-DEP, for their pharmacy to correct: {codes}"]


def _audit_chain_attention(status: dict[str, Any]) -> list[str]:
    found = []
    stale = [c["chain"] for c in status["audit_chains"] if c["stale"]]
    if stale:
        found.append(
            f"audit chain(s) without a signed checkpoint for over "
            f"{cli.age(thresholds.CHECKPOINT_STALE_SECONDS)}: {', '.join(stale)}"
        )
    lagging = [
        c["chain"]
        for c in status["audit_chains"]
        if (c.get("worm_lag_seconds") or 0) >= thresholds.WORM_LAG_SECONDS
    ]
    if lagging:
        found.append(
            f"the WORM copy lags over {cli.age(thresholds.WORM_LAG_SECONDS)} behind: {', '.join(lagging)}"
        )
    return found


def _retention_attention(status: dict[str, Any]) -> list[str]:
    capped = status["retention"]["unacknowledged_near_cap"]
    if capped:
        return [f"{len(capped)} record(s) never acknowledged by SI-DEP near the retention cap"]
    return []


def _quarantine_attention(status: dict[str, Any]) -> list[str]:
    return [
        f"{count} {name} item(s) quarantined"
        for name, count in sorted((status.get("quarantined") or {}).items())
        if count >= thresholds.QUARANTINED
    ]


def _alerts_attention(status: dict[str, Any]) -> list[str]:
    """Open alerts are the pharmacies' to act on; a stage whose alerts table cannot be found is the
    operator's: every stack provisions it (ALERTS_TABLE), so its absence (deleted, misnamed) is an
    outage that must not read as "no alerts"."""
    if "alerts" in status and status["alerts"] is None:
        return ["the alerts table cannot be found: the review's alerts cannot be raised or read"]
    return []


# In the order an operator should act on them: the first is the summary's first line.
_ATTENTION_CHECKS = (
    _sidep_attention,
    _unsent_attention,
    _dead_letter_attention,
    _rejection_attention,
    _audit_chain_attention,
    _retention_attention,
    _quarantine_attention,
    _alerts_attention,
)


def attention(status: dict[str, Any]) -> list[str]:
    """What needs an operator, most urgent first (the first is the summary's first line)."""
    return [line for check in _ATTENTION_CHECKS for line in check(status)]


def verdict(status: dict[str, Any]) -> str:
    """The first line: the answer to "is SI-DEP getting our results?" and whether to act."""
    found = status["attention"]
    if found:
        more = f" (+{len(found) - 1} more below)" if len(found) > 1 else ""
        return f"needs attention: {found[0]}{more}"
    sidep = status["sidep"]
    last = sidep["last_acknowledged"]
    waiting = sum(sidep["waiting"].get(step, 0) for step in (QUEUED, SENDING, RETRYING))
    on_the_way = (
        f"{waiting} record(s) on their way to SI-DEP (the oldest set "
        f"{cli.age(sidep['oldest_unacknowledged_age_seconds'])} ago; alarm after "
        f"{cli.age(thresholds.OLDEST_UNACKNOWLEDGED_SECONDS)})"
    )
    if last:
        return (
            f"healthy: SI-DEP acknowledged batch {last.get('batch_id') or '-'} "
            f"{cli.age(sidep['last_acknowledged_age_seconds'])} ago"
            + (f", {on_the_way}" if waiting else "")
            + "; nothing needs attention"
        )
    if waiting:  # nothing acknowledged yet (a new stack, or an export that has not run)
        return f"healthy: {on_the_way}, none acknowledged yet; nothing needs attention"
    return "healthy: nothing waits for SI-DEP; nothing needs attention"


def show(status: dict[str, Any], out: cli.Output) -> None:
    sidep = status["sidep"]
    out.line(status["verdict"])
    out.line(f"depistage status, {status['target']}, at {status['now']}")
    out.line()
    last = sidep["last_acknowledged"]
    ago = cli.age(sidep["last_acknowledged_age_seconds"])
    batch = f"{last.get('batch_id') or '-'} at {last['at']} ({ago} ago)" if last else "none recorded"
    out.line(f"SI-DEP: last acknowledged batch {batch}")
    failing = sidep["failing"]
    if failing:
        retry_after = failing.get("retry_after_seconds")
        out.line(
            f"  failing: {failing.get('category') or '?'} ({failing.get('error') or '-'})"
            + (f", Retry-After {int(retry_after)}s" if retry_after else "")
            + f" since {failing.get('since') or '?'} ({cli.age(sidep['failing_for_seconds'])}; "
            f"alarm after {cli.age(sidep['alarm_after_seconds'])})"
        )
    else:
        out.line("  failing: no (the last batch sent got an answer)")
    waiting = sidep["waiting"]
    errors = ", ".join(f"{k} {v}" for k, v in sidep["retrying_errors"].items())
    out.line(
        f"  waiting: {waiting['queued']} queued, {waiting['sending']} sending, {waiting['retrying']} retrying"
        + (f" ({errors})" if errors else "")
        + f", {waiting['rejected']} rejected (the pharmacy corrects them)"
        + f", {waiting['dead_letters']} dead letter(s)"
    )
    out.line(
        f"  oldest unacknowledged result: {cli.age(sidep['oldest_unacknowledged_age_seconds'])} "
        f"(alarm after {cli.age(thresholds.OLDEST_UNACKNOWLEDGED_SECONDS)})"
    )
    for r in status["rejected"][:20]:
        out.line(f"  rejected: {r['finess']}: {r['code']} {r['category']}: {r['records']} record(s)")
    if sidep.get("last_rejected_age_seconds") is not None:
        out.line(
            f"  last rejection: {cli.age(sidep['last_rejected_age_seconds'])} ago "
            f"(needs attention for {cli.age(thresholds.REJECTIONS_WINDOW_SECONDS)})"
        )
    out.line()
    queue = status["export_queue"]
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
    last_run = status["last_export_run"]
    if last_run:
        out.line(f"last export run: {_run_line(last_run)}")
        busy = last_run.get("last_busy")
        if busy and busy != {k: last_run.get(k) for k in ("finished_at", "summary")}:
            out.line(f"last run that had records to send: {_run_line(busy)}")
    else:
        out.line("last export run: none recorded")
    out.line()
    chains = status["audit_chains"]
    out.line(f"audit chains: {len(chains)}")
    out.table(
        ["chain", "head seq", "checkpoint seq", "checkpoint age", "since", "worm seq", "worm lag"],
        [
            (
                c["chain"],
                c["head_seq"] if c["head_seq"] is not None else "-",
                c["checkpoint_seq"] if c["checkpoint_seq"] is not None else "-",
                cli.age(c["checkpoint_age_seconds"]) + (" (stale)" if c["stale"] else ""),
                f"+{c['events_since_checkpoint']} event(s)",
                c.get("worm_seq") if c.get("worm_seq") is not None else "-",
                cli.age(c.get("worm_lag_seconds")) if c.get("worm_behind") else "0s",
            )
            for c in chains
        ],
    )
    out.line()
    retention = status["retention"]
    out.line(
        f"retention: {len(retention['unacknowledged_near_cap'])} record(s) never acknowledged by SI-DEP "
        f"within {retention['alarm_days']} day(s) of the cap"
    )
    for record_id in retention["unacknowledged_near_cap"][:20]:
        out.line(f"  {record_id}")
    set_aside = status["quarantined"]
    out.line(
        "quarantined: "
        + (", ".join(f"{name} {count}" for name, count in sorted(set_aside.items())) or "none")
    )
    _show_alerts(status.get("alerts"), out)
    out.line()
    if status["attention"]:
        out.line("needs attention:")
        for item in status["attention"]:
            out.line(f"  ! {item}")
    else:
        out.line("nothing needs attention")


def _show_alerts(alerts: list[dict[str, Any]] | None, out: cli.Output) -> None:
    """The review's open alerts: the pharmacies' to acknowledge (GET …/alerts), not the operator's
    to act on, so they never make `status` exit 1."""
    if alerts is None:
        out.line("alerts: no alerts table")
        return
    total = sum(a["unacknowledged"] for a in alerts)
    out.line(f"alerts: {total} unacknowledged, at {len(alerts)} pharmacy(ies)")
    if alerts:
        out.table(
            ["pharmacy", "unacknowledged", "newest detector", "newest raised at"],
            [
                (a["finess"], a["unacknowledged"], a["newest_detector"] or "-", a["newest_at"] or "-")
                for a in alerts
            ],
        )


def _run_line(run: dict[str, Any]) -> str:
    summary = run.get("summary") or {}
    counts = ", ".join(f"{k} {summary[k]}" for k in _RUN_FIELDS if k in summary)
    return f"{run.get('finished_at', '?')}: {counts or 'nothing to send'}"


_RUN_FIELDS = ("leased", "sent", "acknowledged", "rejected", "retried", "failed", "skipped")


def status_now(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    status = collect(target)
    status["verdict"] = verdict(status)
    show(status, out)
    out.document(status)
    return cli.EXIT_ATTENTION if status["attention"] else cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.parser("status", (__doc__ or "").split("\n", 1)[0]).parse_args(argv)
    return cli.run("status", args, status_now)


if __name__ == "__main__":
    sys.exit(main())
