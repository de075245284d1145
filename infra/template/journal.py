"""The audit journal's WORM copy: an S3 bucket under Object Lock (compliance mode), which no
function may unlock, shorten or delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from infra.template.base import arn, sealed_bucket, skip, sub, tls_only

if TYPE_CHECKING:
    from infra.template.functions import Function

# The WORM copy is kept as long as the journal.
WORM_RETENTION_DAYS = Settings.audit_retention_days
# The WORM copy: the consumer only adds objects (and reads them to tell a replay from a rewrite).
WORM_WRITE = ("s3:PutObject", "s3:GetObject")
# Nobody's function may touch the lock, the versions or the bucket's policy.
WORM_FORBIDDEN = (
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucket",
)


def worm_bucket(functions: list[Function], stage: str) -> dict[str, Any]:
    roles = [{"Fn::GetAtt": [fn.role_id, "Arn"]} for fn in functions]
    statements: list[dict[str, Any]] = [tls_only("AuditWormBucket")]
    if roles:
        statements.append(
            {
                "Sid": "NoFunctionTouchesTheLock",
                "Effect": "Deny",
                "Principal": {"AWS": roles},
                "Action": list(WORM_FORBIDDEN),
                "Resource": [arn("AuditWormBucket"), sub("${AuditWormBucket.Arn}/*")],
            }
        )
    return {
        "AuditWormBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "ObjectLockEnabled": True,
                "ObjectLockConfiguration": {
                    "ObjectLockEnabled": "Enabled",
                    # Compliance mode: no one, the account's root included, shortens or removes it.
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": WORM_RETENTION_DAYS}},
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                **sealed_bucket(stage),
            },
            "Metadata": skip(
                (
                    "CKV_AWS_18",
                    "Access logging would need a second bucket whose own retention is the question; "
                    "CloudTrail data events are the audit of this bucket's access.",
                ),
                ("CKV_AWS_21", "Versioning is enabled (Object Lock requires it)."),
            ),
        },
        "AuditWormBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "AuditWormBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        },
    }
