"""The KMS keys: each key's policy names every function's role, allowing what `KEY_USE` grants it
and denying everything else.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from chalicelib.domain.audit_chain import AUDIT_KEY_SPEC
from infra.template.access import KEY_USE, STORAGE_KEY_VIA_DYNAMODB
from infra.template.base import APP_NAME, arn, skip, sub, tags
from infra.template.identity import SECRET_READERS

if TYPE_CHECKING:
    from infra.template.functions import Function


def account_root() -> dict[str, Any]:
    return {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")}


def _admin_statement() -> dict[str, Any]:
    # The account (its administrators through IAM) manages the key; no function role does.
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": account_root(),
        "Action": "kms:*",
        "Resource": "*",
    }


def _function_key_statements(
    key_id: str, functions: list[Function], condition: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for fn in functions:
        if key_id == "StorageKey":
            actions: tuple[str, ...] = STORAGE_KEY_VIA_DYNAMODB
        else:
            actions = KEY_USE[fn.role].get(key_id, ())
        principal = {"AWS": arn(fn.role_id)}
        if actions:
            allow: dict[str, Any] = {
                "Sid": f"{fn.logical_id}Uses",
                "Effect": "Allow",
                "Principal": principal,
                "Action": list(actions),
                "Resource": "*",
            }
            if condition:
                allow["Condition"] = condition
                if key_id == "StorageKey" and fn.role in SECRET_READERS:
                    allow["Condition"] = copy.deepcopy(condition)
                    services = allow["Condition"]["StringEquals"]["kms:ViaService"]
                    services.append(sub("secretsmanager.${AWS::Region}.amazonaws.com"))
            statements.append(allow)
            # Whatever IAM may say, this function can do nothing else with the key (no management).
            statements.append(
                {
                    "Sid": f"{fn.logical_id}NeverManages",
                    "Effect": "Deny",
                    "Principal": principal,
                    "NotAction": list(actions),
                    "Resource": "*",
                }
            )
        else:
            statements.append(
                {
                    "Sid": f"{fn.logical_id}NeverUses",
                    "Effect": "Deny",
                    "Principal": principal,
                    "Action": "kms:*",
                    "Resource": "*",
                }
            )
    return statements


def kms_key(
    description: str,
    spec: str,
    usage: str,
    policy_statements: list[dict[str, Any]],
    stage: str,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "Description": description,
        "KeySpec": spec,
        "KeyUsage": usage,
        "Enabled": True,
        "PendingWindowInDays": 30,
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [_admin_statement(), *policy_statements]},
        "Tags": tags(stage),
    }
    if spec == "SYMMETRIC_DEFAULT":
        props["EnableKeyRotation"] = True
    return {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


def kms_keys(functions: list[Function], stage: str) -> dict[str, Any]:
    hmac_skip = skip(
        (
            "CKV_AWS_7",
            "HMAC_256 keys cannot rotate automatically in KMS, and the blind index and audit "
            "checkpoints must stay verifiable: rotation is a planned re-index/re-checkpoint.",
        )
    )
    via_dynamodb = {
        "StringEquals": {
            "kms:ViaService": [
                sub("dynamodb.${AWS::Region}.amazonaws.com"),
                sub("sqs.${AWS::Region}.amazonaws.com"),
                sub("s3.${AWS::Region}.amazonaws.com"),
            ],
            "kms:CallerAccount": {"Ref": "AWS::AccountId"},
        }
    }
    services = {
        "Sid": "ServicesEncryptLogsTopicAndAlarms",
        "Effect": "Allow",
        "Principal": {"Service": [sub("logs.${AWS::Region}.amazonaws.com"), "cloudwatch.amazonaws.com"]},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    resources: dict[str, Any] = {
        "DataKey": kms_key(
            "depistage personal data (envelope encryption of the patient's identity)",
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            _function_key_statements("DataKey", functions),
            stage,
        ),
        "BlindIndexKey": {
            **kms_key(
                "depistage NIR blind index (HMAC)",
                "HMAC_256",
                "GENERATE_VERIFY_MAC",
                _function_key_statements("BlindIndexKey", functions),
                stage,
            ),
            "Metadata": hmac_skip,
        },
        "AuditKey": {
            **kms_key(
                "depistage audit checkpoints (ECDSA signatures, checkpoint function only)",
                AUDIT_KEY_SPEC,
                "SIGN_VERIFY",
                _function_key_statements("AuditKey", functions),
                stage,
            ),
            "Metadata": skip(
                (
                    "CKV_AWS_7",
                    "Asymmetric keys cannot rotate automatically in KMS, and every checkpoint signed "
                    "must stay verifiable with the published public key.",
                )
            ),
        },
        "SessionKey": {
            **kms_key(
                "depistage session tokens after a Pro Santé Connect login (RS256 signatures)",
                "RSA_2048",
                "SIGN_VERIFY",
                _function_key_statements("SessionKey", functions),
                stage,
            ),
            "Metadata": skip(
                (
                    "CKV_AWS_7",
                    "Asymmetric KMS keys cannot rotate automatically: rotation is a new key whose "
                    "public key the JWKS publishes next to the old one until its tokens expire (15 min).",
                )
            ),
        },
        "StorageKey": kms_key(
            "depistage storage at rest: DynamoDB tables, log groups, alarm topic, dead letters",
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            [*_function_key_statements("StorageKey", functions, via_dynamodb), services],
            stage,
        ),
    }
    for key_id, alias in (
        ("DataKey", "data"),
        ("BlindIndexKey", "blind-index"),
        ("AuditKey", "audit"),
        ("SessionKey", "session"),
        ("StorageKey", "storage"),
    ):
        resources[f"{key_id}Alias"] = {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": f"alias/{APP_NAME}-{stage}-{alias}", "TargetKeyId": {"Ref": key_id}},
        }
    return resources
