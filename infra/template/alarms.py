"""The alarms and the metrics they watch: the alarm topic, the API's refusals, the export, the
journal and its copy, each function's errors and throttles, retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.retention import ALARM_METRIC
from chalicelib.jobs import UNACKNOWLEDGED_METRIC as JOBS_UNACKNOWLEDGED_METRIC
from chalicelib.observability import (
    AUDIT_QUARANTINED,
    AUDIT_WORM_DIFFERS,
    AUTH_FAILURES,
    REVIEW_ALERTS,
    UNAUTHENTICATED_REFUSALS,
)
from infra import thresholds
from infra.template.base import APP_NAME, sub
from infra.template.export import queues
from infra.template.functions import Function

# Metric the export publishes on every run (Powertools Metrics, 0 when the queue is empty).
EXPORT_LAG_METRIC = "ExportOldestReadyAgeSeconds"  # emitted by chalicelib/services/export.py
EXPORT_LAG_THRESHOLD_SECONDS = 1800
# The sweeper's gauge of the oldest result SI-DEP has not acknowledged (chalicelib/jobs.py).
UNACKNOWLEDGED_METRIC = JOBS_UNACKNOWLEDGED_METRIC
# Batches SI-DEP did not answer (unreachable, TLS, 5xx, 429), per export run.
SIDEP_FAILING_METRIC = "ExportBatchesFailed"  # emitted by chalicelib/services/export.py
AUTH_FAILURE_METRIC = AUTH_FAILURES
# Published by every purge run (chalicelib/services/retention.py): records never acknowledged by
# SI-DEP whose personal data is erased within RETENTION_ALARM_DAYS.
RETENTION_ALARM_METRIC = ALARM_METRIC
AUTH_FAILURE_BURST = 50  # 401/403 answers in 5 minutes
UNAUTHENTICATED_REFUSALS_METRIC = UNAUTHENTICATED_REFUSALS
UNAUTHENTICATED_REFUSALS_BURST = 200  # in 5 minutes: beyond a few clients with stale tokens


# The audit journal's log lines when an append fails (chalicelib/adapters/dynamodb/audit_items.py): a
# log metric filter on every function's log group counts them, without a metric call in the request
# path.
JOURNAL_APPEND_FAILURE_METRIC = "JournalAppendFailures"
JOURNAL_APPEND_FAILURE_PATTERN = (
    '{ ($.message = "audit append gave up under contention") || '
    '(($.message = "audit journal unavailable") && (($.operation = "append") || ($.operation = "head"))) }'
)


# The dimensions of a metric the service emits (observability.count and .metrics): Powertools adds `service`
# (POWERTOOLS_SERVICE_NAME, the app's name). CloudWatch matches an alarm's dimensions as a whole set:
# an alarm without it watches a metric nobody publishes, and never fires.
COUNTED = [{"Name": "service", "Value": APP_NAME}]


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch alarm on one metric, notifying the alarm topic when it fires and when it clears."""

    description: str
    namespace: str
    metric: str
    dimensions: list[dict[str, Any]]
    threshold: float
    statistic: str = "Sum"
    period: int = 300
    periods: int = 1
    missing: str = "notBreaching"
    comparison: str = "GreaterThanOrEqualToThreshold"

    def resource(self) -> dict[str, Any]:
        return {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": self.description,
                "Namespace": self.namespace,
                "MetricName": self.metric,
                "Dimensions": self.dimensions,
                "Statistic": self.statistic,
                "Period": self.period,
                "EvaluationPeriods": self.periods,
                "Threshold": self.threshold,
                "ComparisonOperator": self.comparison,
                "TreatMissingData": self.missing,
                "AlarmActions": [{"Ref": "AlarmTopic"}],
                "OKActions": [{"Ref": "AlarmTopic"}],
            },
        }


def monitoring(functions: list[Function], stage_name: str) -> dict[str, Any]:
    names = {fn.name for fn in functions}
    return {
        **_topic(),
        **_refusal_alarms(stage_name),
        **queues(),
        "DeadLettersAlarm": Alarm(
            "A scheduled run failed for good (dead-lettered)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}],
            1,
            statistic="Maximum",
        ).resource(),
        **_journal_alarms(functions),
        **_function_alarms(functions),
        **(_export_alarms() if "export_to_sidep" in names else {}),
        **_audit_alarms(functions),
        **(_retention_alarms() if "purge_expired" in names else {}),
    }


def _topic() -> dict[str, Any]:
    return {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub("${AWS::StackName}-alarms"),
                "KmsMasterKeyId": {"Ref": "StorageKey"},
            },
        },
        "AlarmSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": {"Ref": "AlarmTopic"},
                "Protocol": "email",
                "Endpoint": {"Ref": "AlarmEmail"},
            },
        },
    }


def _refusal_alarms(stage_name: str) -> dict[str, Any]:
    return {
        "Api5xxAlarm": Alarm(
            "The API answered 5xx",
            "AWS/ApiGateway",
            "5XXError",
            [{"Name": "ApiName", "Value": APP_NAME}, {"Name": "Stage", "Value": stage_name}],
            1,
        ).resource(),
        "AuthFailuresMetricFilter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "ApiAccessLogGroup"},
                "FilterPattern": "{ ($.status = 401) || ($.status = 403) }",
                "MetricTransformations": [
                    {
                        "MetricNamespace": "Depistage",
                        "MetricName": AUTH_FAILURE_METRIC,
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        },
        "AuthFailuresAlarm": Alarm(
            "A burst of authentication/authorisation failures (401/403)",
            "Depistage",
            AUTH_FAILURE_METRIC,
            [],
            AUTH_FAILURE_BURST,
        ).resource(),
        # The 404s the service counts as probes (another pharmacy's record id, or none:
        # chalicelib/services/records.py) are AuthFailures too, in the service's own series: the
        # access log's metric filter writes its series without a dimension.
        "AuthProbesAlarm": Alarm(
            "A burst of probes: 404s on record ids of another pharmacy, or of none",
            "Depistage",
            AUTH_FAILURE_METRIC,
            COUNTED,
            AUTH_FAILURE_BURST,
        ).resource(),
        # Counted by the service (chalicelib/services/refusals.py), one per refusal, while the
        # journal keeps one event per source, reason and window.
        "UnauthenticatedRefusalsAlarm": Alarm(
            "A flood of requests without a valid identity (401, or 403 for a token of no member)",
            "Depistage",
            UNAUTHENTICATED_REFUSALS_METRIC,
            COUNTED,
            UNAUTHENTICATED_REFUSALS_BURST,
        ).resource(),
    }


def _journal_alarms(functions: list[Function]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for fn in functions:
        resources[f"{fn.logical_id}JournalFailuresFilter"] = {
            "Type": "AWS::Logs::MetricFilter",
            "DependsOn": [fn.log_group_id],
            "Properties": {
                "LogGroupName": fn.log_group_name(),
                "FilterPattern": JOURNAL_APPEND_FAILURE_PATTERN,
                "MetricTransformations": [
                    {
                        "MetricNamespace": "Depistage",
                        "MetricName": JOURNAL_APPEND_FAILURE_METRIC,
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        }
    resources["JournalAppendFailuresAlarm"] = Alarm(
        "The audit journal could not be appended to (each one a 503: nothing disclosed untraced)",
        "Depistage",
        JOURNAL_APPEND_FAILURE_METRIC,
        [],
        1,
    ).resource()
    # The journal's watchers (chalicelib/adapters/worm.py, adapters/dynamodb/journal.py): a table
    # item rewritten after its WORM copy, and an item set aside as malformed; each one is an alarm.
    resources["AuditWormDiffersAlarm"] = Alarm(
        "An audit item differs from its WORM copy: the table was rewritten (run verify_audit)",
        "Depistage",
        AUDIT_WORM_DIFFERS,
        COUNTED,
        1,
    ).resource()
    resources["AuditQuarantinedAlarm"] = Alarm(
        "A journal watcher set a malformed audit item aside (the WORM bucket's audit/quarantine/)",
        "Depistage",
        AUDIT_QUARANTINED,
        COUNTED,
        1,
    ).resource()
    # The journal's automatic review (chalicelib/services/review.py): each alert is a count; the
    # alert is on its pharmacy's chain and its admins read it through the API.
    resources["ReviewAlertsAlarm"] = Alarm(
        "The journal's automatic review raised an alert (the log line names the pharmacy and detector)",
        "Depistage",
        REVIEW_ALERTS,
        COUNTED,
        1,
    ).resource()
    return resources


def _function_alarms(functions: list[Function]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for fn in functions:
        resources[f"{fn.logical_id}ThrottlesAlarm"] = Alarm(
            f"{fn.name} is throttled",
            "AWS/Lambda",
            "Throttles",
            [{"Name": "FunctionName", "Value": {"Ref": fn.logical_id}}],
            1,
        ).resource()
        resources[f"{fn.logical_id}ErrorsAlarm"] = Alarm(
            f"{fn.name} failed",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": fn.logical_id}}],
            1,
        ).resource()
    return resources


def _export_alarms() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    resources["ExportLagAlarm"] = Alarm(
        "Records wait too long for SI-DEP (or the export stopped reporting)",
        "Depistage",
        EXPORT_LAG_METRIC,
        COUNTED,
        EXPORT_LAG_THRESHOLD_SECONDS,
        statistic="Maximum",
        periods=2,
        missing="breaching",  # an export that stops running stops reporting
    ).resource()
    resources["ExportDeadLettersAlarm"] = Alarm(
        "Records gave up on SI-DEP after every retry (dead letters): re-drive them",
        "Depistage",
        "ExportFailed",
        COUNTED,
        thresholds.DEAD_LETTERS,
        statistic="Sum",
    ).resource()
    resources["ExportQuarantineAlarm"] = Alarm(
        "The export set aside a queued record it cannot read (quarantined, out of the queue): "
        "see the export's ERROR log for its id, repair it, then re-queue it",
        "Depistage",
        "ExportQuarantined",
        COUNTED,
        1,
        statistic="Sum",
    ).resource()
    resources["ExportSentMarkerMissingAlarm"] = Alarm(
        "A lease met a record saying it was sent without its write-once sent marker (its "
        "first_sent_at was written by someone else): the lease made the marker; "
        "see the export's ERROR log",
        "Depistage",
        "ExportSentMarkerMissing",
        COUNTED,
        1,
        statistic="Sum",
    ).resource()
    # The sweeper runs every 5 minutes: failures in two windows in a row = failing over 5 minutes.
    resources["SidepFailingAlarm"] = Alarm(
        "SI-DEP answers no batch (unreachable, TLS, 5xx, 429) for over "
        f"{thresholds.SIDEP_FAILING_SECONDS // 60} minutes: docs/operations.md",
        "Depistage",
        SIDEP_FAILING_METRIC,
        COUNTED,
        1,
        period=thresholds.SIDEP_FAILING_SECONDS,
        periods=2,
    ).resource()
    resources["ExportUnacknowledgedAlarm"] = Alarm(
        "A result waits over "
        f"{thresholds.OLDEST_UNACKNOWLEDGED_SECONDS // 60} minutes for SI-DEP's acknowledgement "
        "(queued, in flight or in backoff): docs/operations.md",
        "Depistage",
        UNACKNOWLEDGED_METRIC,
        COUNTED,
        thresholds.OLDEST_UNACKNOWLEDGED_SECONDS,
        statistic="Maximum",
    ).resource()
    resources["SidepRejectionsAlarm"] = Alarm(
        "SI-DEP rejected records (AE/AR): their pharmacy must correct them (make status names the codes)",
        "Depistage",
        "ExportRejected",
        COUNTED,
        thresholds.REJECTIONS,
        period=thresholds.REJECTIONS_WINDOW_SECONDS,
    ).resource()
    return resources


def _stream_lag_alarm(function: Function, description: str) -> dict[str, Any]:
    """An audit stream consumer behind the journal: its iterator age over WORM_LAG_SECONDS."""
    return Alarm(
        description,
        "AWS/Lambda",
        "IteratorAge",
        [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}],
        thresholds.WORM_LAG_SECONDS * 1000,  # milliseconds
        statistic="Maximum",
    ).resource()


def _audit_alarms(functions: list[Function]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    by_name = {fn.name: fn for fn in functions}
    if "audit_to_worm" in by_name:
        resources["AuditWormLagAlarm"] = _stream_lag_alarm(
            by_name["audit_to_worm"],
            f"The WORM copy of the audit journal lags over {thresholds.WORM_LAG_SECONDS // 60} minutes "
            "behind the journal (the stream's iterator age)",
        )
    if "review_access" in by_name:
        resources["ReviewLagAlarm"] = _stream_lag_alarm(
            by_name["review_access"],
            f"The journal's automatic review lags over {thresholds.WORM_LAG_SECONDS // 60} minutes behind "
            "the journal (the stream's iterator age): alerts come late",
        )
    if "checkpoint_audit" in by_name:
        resources["AuditCheckpointStaleAlarm"] = Alarm(
            "No audit checkpoint was signed for over "
            f"{thresholds.CHECKPOINT_STALE_SECONDS // 3600} hours (the hourly heartbeat did not run)",
            "AWS/Lambda",
            "Invocations",
            [{"Name": "FunctionName", "Value": {"Ref": by_name["checkpoint_audit"].logical_id}}],
            1,
            period=thresholds.CHECKPOINT_STALE_SECONDS,
            missing="breaching",
            comparison="LessThanThreshold",
        ).resource()
    return resources


def _retention_alarms() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    resources["RetentionUnacknowledgedNearCapAlarm"] = Alarm(
        "Records SI-DEP never acknowledged reach their retention hard cap soon: their personal "
        "data will be erased before SI-DEP has it (see the purge's warning log for their ids)",
        "Depistage",
        RETENTION_ALARM_METRIC,
        COUNTED,
        1,
        statistic="Maximum",
        period=86400,
    ).resource()
    return resources
