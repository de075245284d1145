"""The export to SI-DEP: its client certificate (a secret with its own key), the sweeper's fan-out
queue and the dead letters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.template.base import APP_NAME, arn, skip, sub, tags
from infra.template.keys import kms_key

if TYPE_CHECKING:
    from infra.template.functions import Function

# The functions that send to SI-DEP: they alone get the SI-DEP settings.
SIDEP_FUNCTIONS = frozenset({"export_to_sidep", "export_shard", "export_on_change"})
# The fan-out queue's visibility: 6 × the shard consumer's timeout (AWS's advice for SQS mappings).
EXPORT_SHARD_VISIBILITY_SECONDS = 6 * 300

SIDEP_TLS_SECRET = "SidepTlsSecret"  # pragma: allowlist secret
SIDEP_TLS_KEY = "SidepTlsKey"


def sidep_tls_secret(functions: list[Function], stage: str) -> dict[str, Any]:
    """The secret that holds the SI-DEP client certificate, its key and the CA bundle (one JSON
    value, chalicelib/adapters/sidep/credentials.py), created empty: the operator sets its value
    (docs/deployment.md), never this template. Its own KMS key: only the export decrypts it, and
    only through Secrets Manager."""
    senders = [fn for fn in functions if fn.name in SIDEP_FUNCTIONS]
    statements: list[dict[str, Any]] = []  # kms_key() puts the account administrators first
    for fn in functions:
        principal = {"AWS": arn(fn.role_id)}
        if fn in senders:
            statements.append(
                {
                    "Sid": f"{fn.logical_id}ReadsTheCertificate",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": ["kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": sub("secretsmanager.${AWS::Region}.amazonaws.com"),
                            "kms:CallerAccount": {"Ref": "AWS::AccountId"},
                        }
                    },
                }
            )
        statements.append(
            {
                "Sid": f"{fn.logical_id}NeverManages" if fn in senders else f"{fn.logical_id}NeverUses",
                "Effect": "Deny",
                "Principal": principal,
                **({"NotAction": ["kms:Decrypt"]} if fn in senders else {"Action": "kms:*"}),
                "Resource": "*",
            }
        )
    return {
        SIDEP_TLS_KEY: kms_key(
            "depistage SI-DEP client certificate secret",
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            statements,
            stage,
        ),
        f"{SIDEP_TLS_KEY}Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": f"alias/{APP_NAME}-{stage}-sidep-tls",
                "TargetKeyId": {"Ref": SIDEP_TLS_KEY},
            },
        },
        SIDEP_TLS_SECRET: {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": sub("${AWS::StackName}/sidep-tls"),
                "Description": (
                    "SI-DEP mutual TLS: JSON {certificate, private_key, ca_bundle} in PEM, set by the "
                    "operator (put-secret-value); the export re-reads it within SIDEP_TLS_MAX_AGE_SECONDS"
                ),
                "KmsKeyId": {"Ref": SIDEP_TLS_KEY},
                "Tags": tags(stage),
            },
            "Metadata": skip(
                (
                    "CKV2_AWS_57",
                    "The client certificate is issued by SI-DEP's certificate authority on request: "
                    "no Lambda can rotate it; the operator rotates it with put-secret-value "
                    "(docs/deployment.md).",
                )
            ),
        },
    }


def sidep_tls_statements() -> list[dict[str, Any]]:
    return [
        {
            "Sid": "ReadTheSidepCertificate",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": {"Ref": SIDEP_TLS_SECRET},
        },
        {
            "Sid": "DecryptTheSidepCertificate",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": arn(SIDEP_TLS_KEY),
        },
    ]


def queues() -> dict[str, Any]:
    """The dead letters of every function run asynchronously or by a mapping, and the fan-out."""
    return {
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-dead-letters"),
                "MessageRetentionPeriod": 1209600,
                "KmsMasterKeyId": {"Ref": "StorageKey"},
            },
        },
        # The sweeper's fan-out: one message per export-queue shard, consumed by export_shard.
        # A message older than two sweeps is stale (the next sweep sends it again).
        "ExportFanoutQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-export-shards"),
                "MessageRetentionPeriod": 600,
                "VisibilityTimeout": EXPORT_SHARD_VISIBILITY_SECONDS,
                "KmsMasterKeyId": {"Ref": "StorageKey"},
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 2,
                },
            },
        },
    }
