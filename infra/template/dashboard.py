"""The CloudWatch dashboard: what waits and what failed, then the API."""

from __future__ import annotations

import json
from typing import Any

from infra import thresholds
from infra.template.alarms import (
    AUTH_FAILURE_METRIC,
    EXPORT_LAG_METRIC,
    EXPORT_LAG_THRESHOLD_SECONDS,
    JOURNAL_APPEND_FAILURE_METRIC,
    SIDEP_FAILING_METRIC,
    UNACKNOWLEDGED_METRIC,
)
from infra.template.base import APP_NAME, sub
from infra.template.functions import Function

DASHBOARD_EXPORT_METRICS = (
    "ExportSent",
    "ExportAcknowledged",
    "ExportRejected",
    "ExportRetried",
    "ExportFailed",
    "ExportQuarantined",
)


def _metric(namespace: str, name: str, dims: dict[str, Any], **options: Any) -> list[Any]:
    row: list[Any] = [namespace, name]
    for key, value in dims.items():
        row += [key, value]
    return [*row, options] if options else row


def dashboard_body(functions: list[Function], stage_name: str) -> dict[str, Any]:
    """The picture an operator opens first: what waits and what failed, then the API."""
    service = {"service": APP_NAME}
    api = {"ApiName": APP_NAME, "Stage": stage_name}
    names = {fn.name for fn in functions}

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum", **extra: Any) -> dict[str, Any]:
        props = {
            "title": title,
            "region": "${AWS::Region}",
            "period": 300,
            "stat": stat,
            "view": "timeSeries",
        }
        return {
            "type": "metric",
            "width": 8,
            "height": 6,
            "properties": {**props, "metrics": metrics, **extra},
        }

    widgets = [
        widget(
            "SI-DEP export throughput (records per 5 min)",
            [_metric("Depistage", name, service) for name in DASHBOARD_EXPORT_METRICS[:2]],
        ),
        widget(
            "Export queue: oldest due record (s)",
            [_metric("Depistage", EXPORT_LAG_METRIC, service)],
            stat="Maximum",
            annotations={"horizontal": [{"label": "alarm", "value": EXPORT_LAG_THRESHOLD_SECONDS}]},
        ),
        widget(
            "Oldest result SI-DEP has not acknowledged (s)",
            [_metric("Depistage", UNACKNOWLEDGED_METRIC, service)],
            stat="Maximum",
            annotations={
                "horizontal": [{"label": "alarm", "value": thresholds.OLDEST_UNACKNOWLEDGED_SECONDS}]
            },
        ),
        widget(
            "Dead letters: records and scheduled runs",
            [
                _metric("Depistage", "ExportFailed", service, label="records given up on SI-DEP"),
                _metric(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": "${DeadLetterQueue.QueueName}"},
                    stat="Maximum",
                    label="failed scheduled runs",
                ),
            ],
        ),
        widget(
            "SI-DEP rejections and retries",
            [_metric("Depistage", name, service) for name in ("ExportRejected", "ExportRetried")],
        ),
        widget(
            "SI-DEP: batches without an answer (unreachable, TLS, 5xx, 429)",
            [_metric("Depistage", SIDEP_FAILING_METRIC, service)],
        ),
        widget("Authentication failures (401/403)", [_metric("Depistage", AUTH_FAILURE_METRIC, {})]),
        widget("Audit journal append failures", [_metric("Depistage", JOURNAL_APPEND_FAILURE_METRIC, {})]),
    ]
    if "api_handler" in names:
        widgets += [
            widget(
                "API errors",
                [_metric("AWS/ApiGateway", name, api) for name in ("4XXError", "5XXError")],
            ),
            widget(
                "API latency (ms)",
                [_metric("AWS/ApiGateway", "Latency", api, stat=stat) for stat in ("p50", "p99")],
                stat="p99",
            ),
        ]
    alarms = [alarm for alarm in ("RetentionUnacknowledgedNearCapAlarm",) if "purge_expired" in names]
    alarms += [
        alarm
        for alarm in (
            "SidepFailingAlarm",
            "ExportUnacknowledgedAlarm",
            "ExportLagAlarm",
            "SidepRejectionsAlarm",
            "ExportDeadLettersAlarm",
            "ExportQuarantineAlarm",
            "ExportSentMarkerMissingAlarm",
        )
        if "export_to_sidep" in names
    ]
    alarms += [alarm for alarm in ("AuditWormLagAlarm",) if "audit_to_worm" in names]
    alarms += [alarm for alarm in ("AuditCheckpointStaleAlarm",) if "checkpoint_audit" in names]
    alarms += [alarm for alarm in ("ReviewLagAlarm",) if "review_access" in names]
    alarms += ["DeadLettersAlarm", "JournalAppendFailuresAlarm", "AuditWormDiffersAlarm"]
    alarms += ["AuditQuarantinedAlarm", "AuthFailuresAlarm", "ReviewAlertsAlarm"]
    widgets.append(
        {
            "type": "alarm",
            "width": 8,
            "height": 6,
            "properties": {
                "title": "Alarms: SI-DEP, retention, dead letters, journal and its copy",
                "alarms": [f"${{{alarm}.Arn}}" for alarm in alarms],
            },
        }
    )
    return {"widgets": widgets}


def dashboard(functions: list[Function], stage_name: str) -> dict[str, Any]:
    return {
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": sub("${AWS::StackName}"),
                "DashboardBody": sub(json.dumps(dashboard_body(functions, stage_name))),
            },
        }
    }
