"""The audit journal in the packaged template: its writers can neither sign, nor rewrite, nor unlock.

Writers are the API, export and purge functions (a bug in any is the likeliest compromise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.adapters.dynamodb.models import AuditCheckpointModel, AuditEventModel
from infra.template import STREAM_READ, WORM_FORBIDDEN, table_logical_id
from tests.infra.conftest import load_template

WRITERS = ("APIHandler", "ExportToSidep", "PurgeExpired")
FUNCTIONS = (*WRITERS, "CheckpointAudit", "AuditToWorm")
EVENTS = table_logical_id(AuditEventModel)
CHECKPOINTS = table_logical_id(AuditCheckpointModel)


def _statements(t: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    document = t["Resources"][f"{function_id}Policy"]["Properties"]["PolicyDocument"]
    return list(document["Statement"])


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return {action} if isinstance(action, str) else set(action)


def _allowed_on(t: dict[str, Any], function_id: str, resource_id: str) -> set[str]:
    return {
        a
        for s in _statements(t, function_id)
        if s["Effect"] == "Allow" and resource_id in str(s["Resource"])
        for a in _actions(s)
    }


def _key_policy(t: dict[str, Any]) -> list[dict[str, Any]]:
    return list(t["Resources"]["AuditKey"]["Properties"]["KeyPolicy"]["Statement"])


def test_the_audit_key_signs_only_in_the_checkpoint_function(fake_package: Path) -> None:
    t = load_template(fake_package)
    props = t["Resources"]["AuditKey"]["Properties"]
    assert (props["KeySpec"], props["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    allows = [s for s in _key_policy(t) if s["Effect"] == "Allow" and s["Sid"] != "AccountAdministers"]
    assert [s["Principal"] for s in allows] == [{"AWS": {"Fn::GetAtt": ["CheckpointAuditRole", "Arn"]}}]
    assert _actions(allows[0]) == {"kms:Sign", "kms:GetPublicKey"}
    for fn in (*WRITERS, "AuditToWorm"):
        denies = [
            s
            for s in _key_policy(t)
            if s["Effect"] == "Deny" and s["Principal"] == {"AWS": {"Fn::GetAtt": [f"{fn}Role", "Arn"]}}
        ]
        assert [s["Action"] for s in denies] == ["kms:*"], fn  # no right at all, whatever IAM says
        assert not _allowed_on(t, fn, "AuditKey"), fn


def test_no_writer_can_update_or_delete_audit_items_or_write_a_checkpoint(fake_package: Path) -> None:
    t = load_template(fake_package)
    for fn in WRITERS:
        on_events = _allowed_on(t, fn, EVENTS)
        assert "dynamodb:PutItem" in on_events  # it appends
        assert not on_events & {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}, fn
        on_checkpoints = _allowed_on(t, fn, CHECKPOINTS)
        writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
        assert not on_checkpoints & writes, fn
        # S3 only on the uploads' bucket (infra/template/imports.py), never on the WORM copy
        s3 = [s for s in _statements(t, fn) if any(a.startswith("s3:") for a in _actions(s))]
        assert all("ImportsBucket" in str(s["Resource"]) for s in s3), fn
    every = {a for fn in FUNCTIONS for s in _statements(t, fn) if s["Effect"] == "Allow" for a in _actions(s)}
    assert not every & {"dynamodb:*", "s3:*", "kms:*", "*"}
    assert not every & set(WORM_FORBIDDEN)


def test_the_worm_bucket_locks_in_compliance_mode_for_the_journal_retention(fake_package: Path) -> None:
    t = load_template(fake_package)
    bucket = t["Resources"]["AuditWormBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    policy = t["Resources"]["AuditWormBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in policy if s["Sid"] == "NoFunctionTouchesTheLock"]
    assert deny["Effect"] == "Deny"
    assert {
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
    } <= set(deny["Action"])
    every = sorted(k for k, v in t["Resources"].items() if v["Type"] == "AWS::Serverless::Function")
    assert deny["Principal"]["AWS"] == [{"Fn::GetAtt": [f"{fn}Role", "Arn"]} for fn in every]


def test_the_worm_consumer_reads_the_audit_stream_in_order_and_only_adds_objects(fake_package: Path) -> None:
    t = load_template(fake_package)
    assert t["Resources"][EVENTS]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    fn = t["Resources"]["AuditToWorm"]["Properties"]
    (source,) = fn["Events"].values()
    assert source["Type"] == "DynamoDB"
    assert source["Properties"]["Stream"] == {"Fn::GetAtt": [EVENTS, "StreamArn"]}
    assert source["Properties"]["ParallelizationFactor"] == 1  # one batch in flight per shard
    assert source["Properties"]["MaximumRetryAttempts"] == -1  # retried until it succeeds
    assert fn["Environment"]["Variables"]["AUDIT_WORM_BUCKET"] == {"Ref": "AuditWormBucket"}
    s3 = {a for s in _statements(t, "AuditToWorm") for a in _actions(s) if a.startswith("s3:")}
    assert s3 == {"s3:PutObject", "s3:GetObject"}
    dynamodb = {a for s in _statements(t, "AuditToWorm") for a in _actions(s) if a.startswith("dynamodb:")}
    assert dynamodb == set(STREAM_READ)


def test_the_public_key_is_a_stack_output(fake_package: Path) -> None:
    t = load_template(fake_package)
    assert t["Outputs"]["AuditKeyArn"] == {"Value": {"Fn::GetAtt": ["AuditKey", "Arn"]}}
    assert t["Outputs"]["AuditWormBucket"] == {"Value": {"Ref": "AuditWormBucket"}}


def test_the_operator_reads_the_public_key_and_the_copy_and_never_signs(fake_package: Path) -> None:
    t = load_template(fake_package)
    document = t["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in document if s["Effect"] == "Allow"]
    on_key = {a for s in allows if "AuditKey" in str(s["Resource"]) for a in _actions(s)}
    assert on_key == {"kms:GetPublicKey"}
    on_copy = {a for s in allows if "AuditWormBucket" in str(s["Resource"]) for a in _actions(s)}
    assert on_copy == {"s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion"}


def test_every_rewrite_and_every_item_set_aside_raises_an_alarm(fake_package: Path) -> None:
    from chalicelib.observability import AUDIT_QUARANTINED, AUDIT_WORM_DIFFERS, NAMESPACE
    from infra.template.alarms import COUNTED

    t = load_template(fake_package)
    alarmed = {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in t["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    for metric in (AUDIT_WORM_DIFFERS, AUDIT_QUARANTINED):
        props = alarmed[metric]
        # with the `service` dimension the emitted count carries (else it watches nothing)
        assert (props["Namespace"], props["Threshold"], props["Dimensions"]) == (NAMESPACE, 1, COUNTED), (
            metric
        )
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_signer_may_only_add_to_its_quarantine_in_the_worm_bucket(fake_package: Path) -> None:
    t = load_template(fake_package)
    on_bucket = [s for s in _statements(t, "CheckpointAudit") if "AuditWormBucket" in str(s["Resource"])]
    assert [(_actions(s), s["Resource"]) for s in on_bucket] == [
        ({"s3:PutObject"}, {"Fn::Sub": "${AuditWormBucket.Arn}/audit/quarantine/checkpoint/*"})
    ]
