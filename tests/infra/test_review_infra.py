"""The journal's automatic review in the template: the audit stream's second consumer, with no
right beyond what its code does (read the stream, its own state, a pharmacy's hours; append the
alert's event), and an alarm on every alert raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.models import AuditEventModel, PharmacyModel, ReviewStateModel
from chalicelib.observability import (
    AUDIT_QUARANTINED,
    AUDIT_WORM_DIFFERS,
    AUTH_FAILURES,
    REVIEW_ALERTS,
    UNAUTHENTICATED_REFUSALS,
    count,
)
from infra.template import STREAM_READ, Function, merge_template, table_logical_id
from infra.template.alarms import COUNTED

REVIEW = Function("review_access", "ReviewAccess")
WORM = Function("audit_to_worm", "AuditToWorm")
EVENTS = table_logical_id(AuditEventModel)


def _template() -> dict[str, Any]:
    resources: dict[str, Any] = merge_template([REVIEW, WORM], "eu-west-3", "prod")["Resources"]
    return resources


def _allowed(resources: dict[str, Any], on: str) -> set[str]:
    statements = resources["ReviewAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    return {
        action
        for s in statements
        if s["Effect"] == "Allow" and on in str(s["Resource"])
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }


def test_the_review_is_a_second_consumer_of_the_audit_stream_retried_until_it_succeeds() -> None:
    resources = _template()
    (source,) = resources["ReviewAccess"]["Properties"]["Events"].values()
    (worm,) = resources["AuditToWorm"]["Properties"]["Events"].values()
    assert source["Type"] == "DynamoDB"
    assert (
        source["Properties"]["Stream"]
        == worm["Properties"]["Stream"]
        == {"Fn::GetAtt": [EVENTS, "StreamArn"]}
    )
    assert source["Properties"]["StartingPosition"] == "TRIM_HORIZON"
    assert (
        source["Properties"]["ParallelizationFactor"] == 1
    )  # one batch in flight per shard: chains in order
    assert source["Properties"]["MaximumRetryAttempts"] == -1  # an alert is never dropped with its batch
    assert resources["ReviewAccess"]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_the_review_reads_its_stream_and_writes_only_its_own_state_and_the_alerts_events() -> None:
    resources = _template()
    assert set(STREAM_READ) <= _allowed(resources, "'StreamArn'")
    assert _allowed(resources, table_logical_id(ReviewStateModel)) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert _allowed(resources, table_logical_id(PharmacyModel)) == {"dynamodb:GetItem"}
    events = _allowed(resources, f"'{EVENTS}'")  # the table, its indexes and its stream
    assert "dynamodb:PutItem" in events
    assert not events & {
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Scan",
    }
    every = _allowed(resources, "")
    assert not {a for a in every if a.startswith(("kms:", "s3:", "cognito-idp:", "secretsmanager:", "sqs:"))}


def test_every_alert_raised_is_a_metric_with_an_alarm_and_a_late_review_another() -> None:
    resources = _template()
    alarm = resources["ReviewAlertsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("Depistage", REVIEW_ALERTS, 1)
    lag = resources["ReviewLagAlarm"]["Properties"]
    assert lag["MetricName"] == "IteratorAge"
    assert lag["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ReviewAccess"}}]


@pytest.mark.parametrize(
    ("alarm_name", "metric"),
    [
        ("ReviewAlertsAlarm", REVIEW_ALERTS),
        ("AuditWormDiffersAlarm", AUDIT_WORM_DIFFERS),
        ("AuditQuarantinedAlarm", AUDIT_QUARANTINED),
        ("UnauthenticatedRefusalsAlarm", UNAUTHENTICATED_REFUSALS),
        ("AuthProbesAlarm", AUTH_FAILURES),
    ],
)
def test_an_alarm_on_a_counted_metric_watches_it_as_the_function_emits_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], alarm_name: str, metric: str
) -> None:
    """An alarm's dimensions must be exactly the emitted metric's (CloudWatch matches the whole
    set): one missing or extra, and the alarm watches a metric nobody publishes, green for ever."""
    chalice = json.loads(Path(".chalice/config.json").read_text())
    for name, value in chalice["environment_variables"].items():  # as every deployed function has them
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    count(metric)
    emitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    dimensions = {name: emitted[name] for names in directive["Dimensions"] for name in names}
    alarm = merge_template([REVIEW, WORM], "eu-west-3", "prod")["Resources"][alarm_name]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (directive["Namespace"], metric)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions


def test_every_alarm_on_our_namespace_watches_a_series_that_is_written() -> None:
    """A metric filter writes its series without a dimension; the service (Powertools) writes its own
    with `service`: each alarm of the namespace names one or the other, or it is green for ever."""
    resources = merge_template([REVIEW, WORM], "eu-west-3", "prod")["Resources"]
    filtered = {
        transformation["MetricName"]
        for resource in resources.values()
        if resource.get("Type") == "AWS::Logs::MetricFilter"
        for transformation in resource["Properties"]["MetricTransformations"]
    }
    blind = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("Namespace") == "Depistage"
        and not (
            resource["Properties"]["Dimensions"] == COUNTED
            or (
                resource["Properties"]["Dimensions"] == []
                and resource["Properties"]["MetricName"] in filtered
            )
        )
    ]
    assert blind == []
