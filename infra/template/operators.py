"""The operators' role (MFA only) and what it may read and run; the stack outputs the operator
commands read (operations/target.py).
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS
from chalicelib.config import env_name
from infra.template.access import (
    DYNAMODB_WRITES,
    PERSONAL_ATTRIBUTES,
    STORAGE_KEY_VIA_DYNAMODB,
)
from infra.template.base import arn, sub, tags
from infra.template.functions import Function
from infra.template.journal import WORM_FORBIDDEN
from infra.template.keys import account_root
from infra.template.tables import table_arns

# CloudFormation output -> the environment variable it gives the operator commands
# (operations/target.py: `--stage NAME` reads the stack's outputs through this map).
OPERATOR_OUTPUTS: dict[str, str] = {
    "UserPoolId": env_name("user_pool_id"),
    "AppClientId": env_name("app_client_ids"),
    "DataKeyArn": env_name("data_key_id"),
    "BlindIndexKeyArn": env_name("blind_index_key_id"),
    # The auditor's trust anchor too: `aws kms get-public-key --key-id <AuditKeyArn>` gives the key
    # that verifies every checkpoint (docs/journal.md); GET /v1/audit/public-key serves it.
    "AuditKeyArn": env_name("audit_key_id"),
    "AuditWormBucket": env_name("audit_worm_bucket"),
    **{
        "".join(part.capitalize() for part in setting.split("_")): env_name(setting)
        for setting in TABLE_SETTINGS.values()
    },
}
# The functions an operator may run now (`export run`, `export redrive`, `purge`): output -> function.
# They run with their own roles: the operator role itself never writes a record.
OPERATOR_INVOKES: dict[str, str] = {
    "ExportFunctionName": "export_to_sidep",
    "RedriveFunctionName": "redrive_dead_letters",
    "PurgeFunctionName": "purge_expired",
}
# What the operator may read of a record (operations/status.py's projections, with the keys of the
# table and of the export queue index): never the result, the blind index or the blob.
OPERATOR_READABLE_ATTRIBUTES: tuple[str, ...] = (
    "finess",
    "record_id",
    "export_queue",
    "next_attempt_at",
    "delivery_state",
    "attempts",
    "export_quarantined_at",
    # why a delivery fails (the transport's words or a rejection's codes, never SI-DEP's text) and
    # when the result waiting for SI-DEP was set: `status`'s error categories and oldest age
    "last_error",
    "updated_at",
    # erased by the retention policy (a time): a queued record out of the queue is stranded unless erased
    "erased_at",
)


OPERATOR_RECORD_READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan")


def operator_policy_document(functions: list[Function]) -> dict[str, Any]:
    """Exactly what the operator commands need (devtools/: status, verify_audit, export, purge):
    read the delivery attributes of records and the journal, verify (never make) checkpoints, run
    the export, redrive and purge functions with their own roles, read the metrics. Never a
    patient's data or result, never a record or journal write."""
    records = table_arns("records_table")
    journal = [*table_arns("audit_table"), *table_arns("audit_checkpoints_table")]
    invokable = [fn for fn in functions if fn.name in OPERATOR_INVOKES.values()]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "FindTheStage",
            "Effect": "Allow",
            "Action": ["cloudformation:DescribeStacks"],
            "Resource": sub(
                "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*"
            ),
        },
        {
            "Sid": "ReadTheJournal",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            "Resource": journal,
        },
        {
            # `status` counts each pharmacy's open alerts (identifiers only: no health data there)
            "Sid": "ReadTheAlerts",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            "Resource": table_arns("alerts_table"),
        },
        {
            # Checkpoints are verified here with the public key, never by KMS: reading it is all.
            "Sid": "VerifyCheckpoints",
            "Effect": "Allow",
            "Action": ["kms:GetPublicKey"],
            "Resource": arn("AuditKey"),
        },
        {
            "Sid": "ReadTheWormCopy",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [arn("AuditWormBucket"), sub("${AuditWormBucket.Arn}/audit/*")],
        },
        {
            # fine-grained access: only the delivery attributes, and only through a projection or a
            # count (a read with no projection names no attribute, so Select must be given)
            "Sid": "ReadDeliveryState",
            "Effect": "Allow",
            "Action": list(OPERATOR_RECORD_READS),
            "Resource": records,
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:Attributes": list(OPERATOR_READABLE_ATTRIBUTES)},
                "StringEqualsIfExists": {"dynamodb:Select": ["SPECIFIC_ATTRIBUTES", "COUNT"]},
            },
        },
        {
            "Sid": "NeverReadAResult",
            "Effect": "Deny",
            "Action": list(OPERATOR_RECORD_READS),
            "Resource": records,
            "Condition": {
                "ForAnyValue:StringEquals": {"dynamodb:Attributes": [*PERSONAL_ATTRIBUTES, "result"]}
            },
        },
        {
            "Sid": "NeverWriteARecord",  # redrive, export and purge run as functions, with their roles
            "Effect": "Deny",
            "Action": list(DYNAMODB_WRITES),
            "Resource": records,
        },
        {
            "Sid": "TablesThroughTheirKey",
            "Effect": "Allow",
            "Action": list(STORAGE_KEY_VIA_DYNAMODB),
            "Resource": arn("StorageKey"),
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": [
                        sub("dynamodb.${AWS::Region}.amazonaws.com"),
                        sub("s3.${AWS::Region}.amazonaws.com"),
                    ]
                }
            },
        },
        {
            "Sid": "ReadMetricsAndDeadLetters",
            "Effect": "Allow",
            "Action": ["cloudwatch:GetMetricStatistics", "cloudwatch:GetMetricData"],
            "Resource": "*",  # CloudWatch metric reads take no resource
        },
        {
            "Sid": "CountDeadLetters",
            "Effect": "Allow",
            "Action": ["sqs:GetQueueAttributes"],
            "Resource": arn("DeadLetterQueue"),
        },
        {
            "Sid": "NeverReadPatients",
            "Effect": "Deny",
            "Action": "kms:*",
            "Resource": [arn("DataKey"), arn("BlindIndexKey")],
        },
        {
            "Sid": "NeverForgeCheckpoints",
            "Effect": "Deny",
            "Action": ["kms:Sign"],
            "Resource": arn("AuditKey"),
        },
        {
            "Sid": "NeverTouchTheWormLock",
            "Effect": "Deny",
            "Action": list(WORM_FORBIDDEN),
            "Resource": [arn("AuditWormBucket"), sub("${AuditWormBucket.Arn}/*")],
        },
        {
            "Sid": "NeverWriteTheJournal",
            "Effect": "Deny",
            "Action": list(DYNAMODB_WRITES),
            "Resource": journal,
        },
    ]
    if invokable:
        statements.insert(
            -4,
            {
                "Sid": "RunScheduledJobsNow",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [arn(fn.logical_id) for fn in invokable],
            },
        )
    return {"Version": "2012-10-17", "Statement": statements}


def operators(functions: list[Function], stage: str) -> dict[str, Any]:
    return {
        "OperatorRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": f"depistage {stage}: operators (status, verify_audit, export, purge)",
                "MaxSessionDuration": 3600,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": account_root(),  # the account's IAM decides who; with MFA only
                            "Action": "sts:AssumeRole",
                            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                        }
                    ],
                },
                "Tags": tags(stage),
            },
        },
        "OperatorPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "operator-least-privilege",
                "Roles": [{"Ref": "OperatorRole"}],
                "PolicyDocument": operator_policy_document(functions),
            },
        },
    }
