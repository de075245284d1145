"""Spreadsheet uploads (docs/imports.md): the bucket the pharmacies PUT their files to, the queue
its ObjectCreated notifications go to, and what each function may do there.

The bucket holds health data (an uploaded file) for minutes: it encrypts with the project's storage
key (SSE-KMS), blocks every public access, takes TLS only, owns its objects, and expires uploads
after a day and the imports' states and reports (no value of the file: counts, rows, columns,
messages) after a few days. A file is deleted by the processing once imported.

Why a queue between the bucket and the processing function: a message whose processing fails or
times out comes back after the visibility timeout, a few times, then waits in the dead letters
(alarmed); S3 invoking the function directly would retry twice and drop it. The messages name
objects only (a FINESS and an import id): the queue uses SQS-managed encryption, so the storage
key's policy need not admit S3 as a sender.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.s3_imports import REPORTS, STATUS, UPLOADS
from infra.template.base import APP_NAME, arn, sealed_bucket, skip, sub, tls_only

if TYPE_CHECKING:
    from infra.template.functions import Function

IMPORT_FUNCTION = "process_import"
UPLOAD_EXPIRY_DAYS = 1  # a file not processed within a day is deleted by S3 itself
REPORT_EXPIRY_DAYS = 3  # states and reports: read within days, then gone
# The function's timeout (.chalice/config.json, process_import): 10,000 rows in chunks of 100 take
# well under it (bench/import_path.py).
IMPORT_TIMEOUT_SECONDS = 900
IMPORT_VISIBILITY_SECONDS = IMPORT_TIMEOUT_SECONDS + 60  # never redelivered while still running
IMPORT_MAX_RECEIVES = 3
IMPORT_CONCURRENCY = 2  # uploads processed at once: DynamoDB's write capacity is the records'
BUCKET_NAME = f"{APP_NAME}-${{Stage}}-imports-${{AWS::AccountId}}-${{AWS::Region}}"

# Each role's rights on the bucket, by prefix: the API issues the upload URLs (signed with its
# role: the PUT acts with its s3:PutObject on uploads/), writes an import's first state and reads
# states and reports; the processing reads and deletes the file, writes states and reports.
IMPORT_RIGHTS: dict[str, dict[str, tuple[str, ...]]] = {
    "api": {UPLOADS: ("s3:PutObject",), STATUS: ("s3:PutObject", "s3:GetObject"), REPORTS: ("s3:GetObject",)},
    "imports": {
        UPLOADS: ("s3:GetObject", "s3:DeleteObject"),
        STATUS: ("s3:PutObject", "s3:GetObject"),
        REPORTS: ("s3:PutObject",),
    },
}


def bucket_name(stage: str) -> dict[str, str]:
    return sub(BUCKET_NAME.replace("${Stage}", stage))


def import_statements(fn: Function) -> list[dict[str, Any]]:
    """The function's rights on the uploads' bucket (none but the API's and the processing's), and
    the processing's on its queue."""
    rights = IMPORT_RIGHTS.get(fn.role, {})
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Imports" + prefix.strip("/").capitalize(),
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": sub(f"${{ImportsBucket.Arn}}/{prefix}*"),
        }
        for prefix, actions in rights.items()
    ]
    if fn.name == IMPORT_FUNCTION:
        statements.append(
            {
                "Sid": "ConsumeUploadNotifications",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": arn("ImportsQueue"),
            }
        )
    return statements


def import_consumer_overrides(fn: Function) -> dict[str, Any]:
    """The processing's queue (ours, not the decorator's placeholder), its limit and its time."""
    from infra.template.functions import event_source_id

    return {
        "ReservedConcurrentExecutions": IMPORT_CONCURRENCY,
        "Events": {
            event_source_id(fn, "sqs"): {
                "Type": "SQS",
                "Properties": {"Queue": arn("ImportsQueue"), "BatchSize": 1},
            }
        },
    }


def _lifecycle() -> dict[str, Any]:
    rules = [
        {
            "Id": "ExpireUploads",
            "Status": "Enabled",
            "Prefix": UPLOADS,
            "ExpirationInDays": UPLOAD_EXPIRY_DAYS,
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        *(
            {"Id": f"Expire{prefix.strip('/').capitalize()}", "Status": "Enabled", "Prefix": prefix}
            | {"ExpirationInDays": REPORT_EXPIRY_DAYS}
            for prefix in (STATUS, REPORTS)
        ),
    ]
    return {"Rules": rules}


def imports_resources(functions: list[Function], stage: str) -> dict[str, Any]:
    bucket_arn = sub(f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME.replace('${Stage}', stage)}")
    return {
        "ImportsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-imports"),
                "MessageRetentionPeriod": 86400,
                "VisibilityTimeout": IMPORT_VISIBILITY_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn("DeadLetterQueue"),
                    "maxReceiveCount": IMPORT_MAX_RECEIVES,
                },
            },
            "Metadata": skip(
                (
                    "CKV_AWS_27",
                    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which the check does "
                    "not read; its messages name objects only (a FINESS and an import id), and a KMS key "
                    "would need S3 admitted to the storage key's policy.",
                )
            ),
        },
        "ImportsQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "ImportsQueue"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TheUploadsBucketNotifies",
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn("ImportsQueue"),
                            "Condition": {
                                "ArnEquals": {"aws:SourceArn": bucket_arn},
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                            },
                        }
                    ],
                },
            },
        },
        "ImportsBucket": {
            "Type": "AWS::S3::Bucket",
            "DependsOn": ["ImportsQueuePolicy"],
            "Properties": {
                "BucketName": bucket_name(stage),
                **sealed_bucket(stage),
                "LifecycleConfiguration": _lifecycle(),
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Queue": arn("ImportsQueue"),
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": UPLOADS}]}},
                        }
                    ]
                },
            },
            "Metadata": skip(
                (
                    "CKV_AWS_18",
                    "Access logging would need a second bucket holding who uploaded what; every "
                    "access goes through the API and the processing, both journaled.",
                ),
                (
                    "CKV_AWS_21",
                    "No versioning: an upload lives minutes and must not survive its deletion "
                    "(a second PUT through the same URL is refused by its tag, not kept).",
                ),
            ),
        },
        "ImportsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "ImportsBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        tls_only("ImportsBucket"),
                    ],
                },
            },
        },
    }
