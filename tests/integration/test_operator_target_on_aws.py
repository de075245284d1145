"""Operator tools against a deployed stage's AWS side, on moto: the stack found from its
CloudFormation outputs, and `status` reading the export metrics and the dead-letter queue."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from infra.template import OPERATOR_INVOKES, OPERATOR_OUTPUTS
from operations import cli, status, target


def _outputs() -> list[dict[str, str]]:
    values = {key: f"value-of-{key}" for key in [*OPERATOR_OUTPUTS, *OPERATOR_INVOKES, "DeadLetterQueueUrl"]}
    values["DataKeyArn"] = "arn:aws:kms:eu-west-3:123456789012:key/data"
    return [{"OutputKey": k, "OutputValue": v} for k, v in values.items()]


def test_a_deployed_stage_is_found_from_its_cloudformation_outputs() -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {o["OutputKey"]: {"Value": o["OutputValue"]} for o in _outputs()},
    }
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(StackName="depistage-prod", TemplateBody=json.dumps(template))
        found = target.find(stage="prod", region="eu-west-1")
    assert found.kind == "deployed" and "depistage-prod" in found.source
    settings = found.settings()
    assert settings.region == "eu-west-1" and settings.stage == "prod"
    assert settings.data_key_id.endswith("key/data")
    assert settings.records_table == "value-of-RecordsTable"
    assert settings.aws_endpoint_url is None  # the real AWS, with the operator's credentials
    assert found.outputs["ExportFunctionName"] == "value-of-ExportFunctionName"


def test_a_stage_that_does_not_exist_is_one_clear_line() -> None:
    with mock_aws(), pytest.raises(target.TargetError, match="no such stack"):
        target.find(stage="nope", region="eu-west-3")


def test_status_of_a_deployed_stage_reads_the_export_metrics_and_the_dead_letter_queue() -> None:
    from datetime import UTC, datetime, timedelta

    with mock_aws():
        from devtools.provision import provision

        env = provision(boto3.Session(region_name="eu-west-3"))
        sqs = boto3.client("sqs", region_name="eu-west-3")
        queue = sqs.create_queue(QueueName="depistage-prod-dead-letters")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
        now = datetime.now(UTC)
        boto3.client("cloudwatch", region_name="eu-west-3").put_metric_data(
            Namespace="Depistage",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "service", "Value": "depistage"}],
                    "Value": value,
                    "Timestamp": now - timedelta(minutes=1),
                }
                for name, value in (("ExportSent", 5), ("ExportAcknowledged", 4), ("ExportFailed", 1))
            ],
        )
        deployed = target.Target(
            "stage prod",
            {**env, "AWS_REGION": "eu-west-3"},
            "deployed",
            outputs={"DeadLetterQueueUrl": queue},
        )
        found = status.collect(deployed, now=now)
    assert found["dead_letters"]["scheduled_runs"] == 1
    assert found["last_export_run"]["summary"] == {"sent": 5, "acknowledged": 4, "failed": 1}
    assert any("failed scheduled run" in item for item in found["attention"])
    assert any("dead letters" in item for item in found["attention"])


def test_status_of_a_deployed_stage_says_sidep_fails_since_the_first_failed_batch_after_the_last_ack() -> (
    None
):
    from datetime import UTC, datetime, timedelta

    with mock_aws():
        from devtools.provision import provision

        env = provision(boto3.Session(region_name="eu-west-3"))
        now = datetime.now(UTC).replace(second=30, microsecond=0)
        points = [
            ("ExportAcknowledged", 9, 20),
            ("ExportBatchesFailed", 1, 12),
            ("ExportBatchesFailed", 2, 3),
        ]
        boto3.client("cloudwatch", region_name="eu-west-3").put_metric_data(
            Namespace="Depistage",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "service", "Value": "depistage"}],
                    "Value": value,
                    "Timestamp": now - timedelta(minutes=ago),
                }
                for name, value, ago in points
            ],
        )
        deployed = target.Target("stage prod", {**env, "AWS_REGION": "eu-west-3"}, "deployed")
        found = status.collect(deployed, now=now)
    sidep = found["sidep"]
    # the metrics' minutes (their periods start where the hour read back starts)
    assert sidep["last_acknowledged"]["at"].startswith(
        (now - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M")
    )
    assert sidep["failing"]["since"].startswith((now - timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M"))
    assert found["attention"][0].startswith("SI-DEP is failing (unknown) for 12m (alarm)")
    found["verdict"] = status.verdict(found)
    shown = io.StringIO()
    status.show(found, cli.Output(as_json=False, stream=shown))
    assert shown.getvalue().startswith("needs attention: SI-DEP is failing")
