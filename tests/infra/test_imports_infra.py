"""The spreadsheet uploads in the template (infra/template/imports.py): a bucket that holds health
data for minutes (SSE-KMS, no public access, TLS only, quick expiry), its notifications on a queue
with dead letters, and least privilege: only the API and the processing touch it, each by prefix,
and the processing creates records without ever updating, deleting or decrypting one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.template import Function, merge_template
from infra.template.imports import IMPORT_TIMEOUT_SECONDS, IMPORT_VISIBILITY_SECONDS

FUNCTIONS = [
    Function("api_handler", "APIHandler"),
    Function("export_to_sidep", "ExportToSidep"),
    Function("export_shard", "ExportShard"),
    Function("purge_expired", "PurgeExpired"),
    Function("checkpoint_audit", "CheckpointAudit"),
    Function("audit_to_worm", "AuditToWorm"),
    Function("process_import", "ProcessImport"),
]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    template: dict[str, Any] = merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"]
    return template


def statements(resources: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    return list(resources[f"{function_id}Policy"]["Properties"]["PolicyDocument"]["Statement"])


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return {action} if isinstance(action, str) else set(action)


def test_the_bucket_encrypts_with_the_storage_key_blocks_public_access_and_takes_tls_only(
    resources: dict[str, Any],
) -> None:
    props = resources["ImportsBucket"]["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["StorageKey", "Arn"]},
    }
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [tls] = resources["ImportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_uploads_expire_in_a_day_and_states_and_reports_within_days(resources: dict[str, Any]) -> None:
    rules = {
        r["Prefix"]: r for r in resources["ImportsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert set(rules) == {"uploads/", "status/", "reports/"}
    assert rules["uploads/"]["ExpirationInDays"] == 1
    assert all(rule["ExpirationInDays"] <= 3 and rule["Status"] == "Enabled" for rule in rules.values())


def test_uploads_notify_a_queue_with_dead_letters_that_only_the_bucket_may_send_to(
    resources: dict[str, Any],
) -> None:
    [notify] = resources["ImportsBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notify["Event"] == "s3:ObjectCreated:*"
    assert notify["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}
    queue = resources["ImportsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] == IMPORT_VISIBILITY_SECONDS > IMPORT_TIMEOUT_SECONDS
    [send] = resources["ImportsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert send["Principal"] == {"Service": "s3.amazonaws.com"} and send["Action"] == "sqs:SendMessage"
    assert "aws:SourceArn" in send["Condition"]["ArnEquals"]
    events = resources["ProcessImport"]["Properties"]["Events"]
    [(_, source)] = events.items()
    assert source["Properties"] == {"Queue": {"Fn::GetAtt": ["ImportsQueue", "Arn"]}, "BatchSize": 1}


def test_only_the_api_and_the_processing_touch_the_bucket_each_by_its_prefixes(
    resources: dict[str, Any],
) -> None:
    def on_bucket(function_id: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for s in statements(resources, function_id):
            resource = json.dumps(s["Resource"])
            if s["Effect"] == "Allow" and "ImportsBucket" in resource:
                found[resource.split("/")[-2]] = actions(s)
        return found

    assert on_bucket("APIHandler") == {
        "uploads": {"s3:PutObject"},
        "status": {"s3:PutObject", "s3:GetObject"},
        "reports": {"s3:GetObject"},
    }
    assert on_bucket("ProcessImport") == {
        "uploads": {"s3:GetObject", "s3:DeleteObject"},
        "status": {"s3:PutObject", "s3:GetObject"},
        "reports": {"s3:PutObject"},
    }
    for other in ("ExportToSidep", "ExportShard", "PurgeExpired", "CheckpointAudit", "AuditToWorm"):
        assert on_bucket(other) == {}, other


def test_the_processing_creates_records_but_never_updates_deletes_or_decrypts_one(
    resources: dict[str, Any],
) -> None:
    allowed = [s for s in statements(resources, "ProcessImport") if s["Effect"] == "Allow"]
    on_tables = set().union(*(actions(s) for s in allowed if "Table" in json.dumps(s["Resource"])))
    assert "dynamodb:PutItem" in on_tables
    assert not on_tables & {
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Scan",
    }
    on_keys = {a for s in allowed for a in actions(s) if a.startswith("kms:")}
    assert on_keys == {"kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateMac"}
    assert not [s for s in allowed if "cognito" in json.dumps(s) or "secretsmanager" in json.dumps(s)]
