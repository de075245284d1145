"""What every resource family uses: the app's name and stage, the region allow-list, and the
small helpers that write CloudFormation's intrinsic functions, tags and log groups.
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import DEFAULT_REGION, HDS_REGIONS

APP_NAME = "depistage"
DEFAULT_STAGE = "prod"
LOG_RETENTION_DAYS = 365
PLACEHOLDER_ROLE = "set-by-infra-build"  # the iam_role_arn in .chalice/config.json, replaced here


class RegionNotAllowedError(ValueError):
    """A deployment outside the HDS-certified EEA regions."""


def check_region(region: str) -> str:
    if region not in HDS_REGIONS:
        raise RegionNotAllowedError(
            f"region {region!r} is not an HDS-certified EEA region; health data may only be deployed to: "
            f"{', '.join(HDS_REGIONS)} (default {DEFAULT_REGION})"
        )
    return region


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def skip(*checks: tuple[str, str]) -> dict[str, Any]:
    """checkov skips, each with the reason it does not apply."""
    return {"checkov": {"skip": [{"id": check, "comment": comment} for check, comment in checks]}}


def tags(stage: str) -> list[dict[str, str]]:
    return [
        {"Key": "app", "Value": APP_NAME},
        {"Key": "stage", "Value": stage},
        {"Key": "data", "Value": "hds"},
    ]


def log_group(name: Any, stage: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "LogGroupName": name,
            "RetentionInDays": LOG_RETENTION_DAYS,
            "KmsKeyId": arn("StorageKey"),
            "Tags": tags(stage),
        },
    }


def sealed_bucket(stage: str) -> dict[str, Any]:
    """What every bucket of ours holds to: SSE-KMS with the storage key, no public access, no ACLs,
    its stage's tags (a bucket's own properties, e.g. Object Lock or a lifecycle, go beside these)."""
    return {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {
                    "ServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": arn("StorageKey"),
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "Tags": tags(stage),
    }


def tls_only(logical_id: str) -> dict[str, Any]:
    """The bucket policy statement that refuses any request to the bucket or its objects over plain HTTP."""
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn(logical_id), sub(f"${{{logical_id}.Arn}}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
