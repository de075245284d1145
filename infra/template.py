"""The CloudFormation template merged into `chalice package --merge-template`.

Generated, never hand-written, so that it cannot drift from the sources of truth:
- tables: the PynamoDB models (`ALL_MODELS`, `TABLE_SETTINGS`) and their TTL attributes;
- table names and the functions' environment: `chalicelib.config.Settings` / `load_settings()`;
- the user pool and app client: `chalicelib.adapters.cognito_pool` (as the local stack);
- the region allow-list: `chalicelib.config.HDS_REGIONS`.

The stateful and security resources live here; Chalice contributes the functions, the REST
API and the schedule. Each function gets its own role, mapped by name in `FUNCTION_ROLES`:
packaging fails on a function without one rather than deploying it with a broad role.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.adapters.cognito_pool import app_client_settings, user_pool_settings
from chalicelib.adapters.dynamodb.models import ALL_MODELS, TABLE_SETTINGS, MemberModel, RecordModel
from chalicelib.adapters.dynamodb.retention import ERASED_ATTRIBUTES
from chalicelib.config import DEFAULT_REGION, HDS_REGIONS, Settings, env_name
from chalicelib.domain.audit_chain import AUDIT_KEY_SPEC
from chalicelib.domain.retention import ALARM_METRIC
from chalicelib.jobs import UNACKNOWLEDGED_METRIC as JOBS_UNACKNOWLEDGED_METRIC
from chalicelib.observability import (
    AUDIT_QUARANTINED,
    AUDIT_WORM_DIFFERS,
    AUTH_FAILURES,
    UNAUTHENTICATED_REFUSALS,
)
from infra import thresholds

APP_NAME = "depistage"
DEFAULT_STAGE = "prod"
LOG_RETENTION_DAYS = 365
PLACEHOLDER_ROLE = "set-by-infra-build"  # the iam_role_arn in .chalice/config.json, replaced here

# Chalice function name -> the role it runs with (see ROLE_ACCESS).
FUNCTION_ROLES: dict[str, str] = {
    "api_handler": "api",
    "export_to_sidep": "export",  # the sweeper: one fan-out message per export-queue shard
    "export_shard": "export",  # the fan-out's consumer: one exporter per shard
    "export_on_change": "export",  # the trigger, on the records table's stream
    "purge_expired": "purge",
    "checkpoint_audit": "audit",
    # the operator's `export redrive` on a deployed stage: the export's delivery bookkeeping
    "redrive_dead_letters": "export",
    "audit_to_worm": "worm",
    # Cognito's session-ending calls, from CloudTrail via EventBridge (chalicelib/api/identity_events.py)
    "end_cognito_sessions": "sessions",
}
# The WORM copy is kept as long as the journal.
WORM_RETENTION_DAYS = Settings.audit_retention_days
# Stream handlers: function -> the Settings field of the table whose stream feeds it.
STREAM_FUNCTIONS: dict[str, str] = {"audit_to_worm": "audit_table", "export_on_change": "records_table"}
# The functions that send to SI-DEP: they alone get the SI-DEP settings.
SIDEP_FUNCTIONS = frozenset({"export_to_sidep", "export_shard", "export_on_change"})
# Invoked by an event source mapping (stream, SQS), which retries and dead-letters: no async DLQ.
MAPPED_FUNCTIONS = frozenset({"export_shard", "export_on_change"})
# Functions invoked asynchronously (schedules, EventBridge rules): failed events go to the
# dead-letter queue.
ASYNC_ROLES = frozenset({"export", "purge", "audit", "sessions"})
# What a stream consumer needs on its table's stream (Lambda's event source mapping reads with it).
STREAM_READ = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
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

# The trigger's event filter: only changes that leave a message queued invoke it.
EXPORT_TRIGGER_FILTER = {"dynamodb": {"NewImage": {"export_queue": {"S": [{"exists": True}]}}}}
# How a stream mapping delivers, per consumer. By default (the WORM copy) a batch is retried until
# it succeeds, in order per chain. The trigger gives up after two retries (the sweeper takes what is
# left), bisecting a failing batch, its position going to the dead letters; it sees only changes
# that leave a message queued.
STREAM_UNTIL_DONE: dict[str, Any] = {"MaximumRetryAttempts": -1, "BisectBatchOnFunctionError": False}
STREAM_DELIVERY: dict[str, dict[str, Any]] = {
    "export_on_change": {
        "StartingPosition": "LATEST",  # what was queued before the mapping existed: the sweeper's
        "MaximumRetryAttempts": 2,
        "BisectBatchOnFunctionError": True,
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}},
        "FilterCriteria": {
            "Filters": [{"Pattern": json.dumps(EXPORT_TRIGGER_FILTER, separators=(",", ":"))}]
        },
    }
}
# The fan-out queue's visibility: 6 × the shard consumer's timeout (AWS's advice for SQS mappings).
EXPORT_SHARD_VISIBILITY_SECONDS = 6 * 300

# Attributes of a record that carry personal data (encrypted blob, keyed blind index).
PERSONAL_ATTRIBUTES: tuple[str, ...] = ("personal", "nir_index")
# What the export may write on a record: its delivery bookkeeping, never the clinical or personal part.
EXPORT_WRITABLE_ATTRIBUTES: tuple[str, ...] = (
    "finess",
    "record_id",
    "version",
    "status",
    "delivery_state",
    "attempts",
    "last_error",
    "acknowledged_at",
    "acknowledged_version",
    "pending_message",
    "export_queue",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    # set by the lease: a message may have reached SI-DEP. IAM cannot keep this role from REMOVing
    # it: "already sent" also lives in the write-once sent marker, which it may only create
    "first_sent_at",
    "export_quarantined_at",  # an unreadable queued item set aside (adapters/dynamodb/export_queue.py)
    "delivery_history",
    "erase_day",  # an acknowledgement brings the retention erase day forward
)
# What the purge's erasure writes (chalicelib/adapters/dynamodb/retention.py `_erasure_actions`,
# `erase_unsent`): never first_sent_at, which IAM cannot tell a SET from a REMOVE of.
PURGE_WRITABLE_ATTRIBUTES: tuple[str, ...] = (
    "finess",
    "record_id",
    "erased_at",
    "updated_at",
    "version",
    "expires_at",
    "created_at",
    "sampled_at",
    "status",
    "delivery_state",
    *ERASED_ATTRIBUTES,
)

# DynamoDB access levels (TransactWriteItems is authorised per item through these actions).
READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
SCAN = (*READ, "dynamodb:Scan")
APPEND = (*READ, "dynamodb:PutItem")
WRITE = (*APPEND, "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
# A record is created and updated, never deleted (a record SI-DEP may hold stays; the purge erases).
NEVER_DELETE = (*APPEND, "dynamodb:UpdateItem")
DYNAMODB_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)

# Role -> Settings table field -> access. The audit journal is append-only for its writers (no
# Update/Delete), and only the checkpoint function writes checkpoints.
ROLE_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "api": {
        "records_table": NEVER_DELETE,
        "pharmacies_table": APPEND,
        "members_table": WRITE,
        "idempotency_table": WRITE,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
        "psc_logins_table": WRITE,  # PSC logins in progress
        "sent_markers_table": READ,  # cancel, withdrawal and erasure check "already sent"
    },
    # UpdateItem on records only, and only on EXPORT_WRITABLE_ATTRIBUTES (see _export_record_statements).
    # Sent markers: create only (PutItem; no Update, Delete or BatchWrite for anyone): "already
    # sent" no role can take back (adapters/dynamodb/sent_markers.py).
    "export": {
        "records_table": READ,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
        "sent_markers_table": APPEND,
    },
    # Reads the erase-day index and erases with a conditional UpdateItem on PURGE_WRITABLE_ATTRIBUTES
    # (see _purge_record_statements): no Put/Delete, and no idempotency table (its entries hold no
    # personal value and expire by TTL within a day).
    "purge": {
        "records_table": READ,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
        "sent_markers_table": READ,
    },
    # The hourly signed checkpoint of every chain head (it lists the pharmacies and the chains).
    "audit": {
        "audit_table": READ,
        "audit_checkpoints_table": (*SCAN, "dynamodb:PutItem"),
        "pharmacies_table": SCAN,
    },
    # The WORM copy reads the audit table's stream only (STREAM_READ), no table.
    "worm": {},
    # Reads a membership; its one write is the membership's "tokens not before" (see
    # _session_statements); journals what it ended.
    "sessions": {"members_table": READ, "audit_table": APPEND, "audit_checkpoints_table": READ},
}
# Writers of the journal: none may sign, update or delete audit items, or touch the WORM lock.
WRITER_ROLES = frozenset({"api", "export", "purge", "sessions"})

# Role -> KMS key logical id -> the only actions it may perform with that key.
KEY_USE: dict[str, dict[str, tuple[str, ...]]] = {
    "api": {
        "DataKey": ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
        "BlindIndexKey": ("kms:GenerateMac", "kms:VerifyMac"),
        # Signs the access tokens of PSC logins and publishes their public key (never the private one).
        "SessionKey": ("kms:Sign", "kms:GetPublicKey"),
    },
    # The export reads the blob to build the SI-DEP message: decrypt only, it never encrypts.
    "export": {"DataKey": ("kms:Decrypt",)},
    "purge": {},
    # The checkpoint function alone signs with the audit key (and publishes its public key).
    "audit": {"AuditKey": ("kms:Sign", "kms:GetPublicKey")},
    "worm": {},
    "sessions": {},
}
# What DynamoDB (tables) and SQS (dead letters) need of the storage key on the functions' behalf.
STORAGE_KEY_VIA_DYNAMODB = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
)

# Pro Santé Connect per environment: the sandbox ("bas") and production discovery documents
# (PSC's public documentation; what remains to confirm is in the README).
PSC_ENVIRONMENTS: dict[str, dict[str, str]] = {
    "bas": {
        "DiscoveryUrl": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    },
    "production": {
        "DiscoveryUrl": "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    },
}

# The national directory of health professionals (ANS Annuaire Santé FHIR API v2, production: the
# ANS runs no sandbox of it; README "Sources"), the PscDirectoryUrl parameter's default.
DIRECTORY_URL = "https://gateway.api.esante.gouv.fr/fhir/v2"

# Roles that read the PSC client secret (encrypted with the storage key, through Secrets Manager).
SECRET_READERS = frozenset({"api"})

COGNITO_ADMIN_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminUserGlobalSignOut",
    "cognito-idp:AdminSetUserMFAPreference",
)

# Metric the export publishes on every run (Powertools Metrics, 0 when the queue is empty).
EXPORT_LAG_METRIC = "ExportOldestReadyAgeSeconds"  # emitted by chalicelib/services/export.py
EXPORT_LAG_THRESHOLD_SECONDS = 1800
# The sweeper's gauge of the oldest result SI-DEP has not acknowledged (chalicelib/jobs.py).
UNACKNOWLEDGED_METRIC = JOBS_UNACKNOWLEDGED_METRIC
# Batches SI-DEP did not answer (unreachable, TLS, 5xx, 429), per export run.
SIDEP_FAILING_METRIC = "ExportBatchesFailed"  # emitted by chalicelib/services/export.py
AUTH_FAILURE_METRIC = AUTH_FAILURES
# Published by every purge run (chalicelib/services/retention.py): records never acknowledged by
# SI-DEP whose personal data is erased within RETENTION_ALARM_DAYS.
RETENTION_ALARM_METRIC = ALARM_METRIC
AUTH_FAILURE_BURST = 50  # 401/403 answers in 5 minutes
UNAUTHENTICATED_REFUSALS_METRIC = UNAUTHENTICATED_REFUSALS
UNAUTHENTICATED_REFUSALS_BURST = 200  # in 5 minutes: beyond a few clients with stale tokens


# The audit journal's log lines when an append fails (chalicelib/adapters/dynamodb/journal.py): a log metric
# filter on every function's log group counts them, without a metric call in the request path.
JOURNAL_APPEND_FAILURE_METRIC = "JournalAppendFailures"
JOURNAL_APPEND_FAILURE_PATTERN = (
    '{ ($.message = "audit append gave up under contention") || '
    '(($.message = "audit journal unavailable") && (($.operation = "append") || ($.operation = "head"))) }'
)
DASHBOARD_EXPORT_METRICS = (
    "ExportSent",
    "ExportAcknowledged",
    "ExportRejected",
    "ExportRetried",
    "ExportFailed",
    "ExportQuarantined",
)

# CloudFormation output -> the environment variable it gives the operator commands
# (devtools/target.py: `--stage NAME` reads the stack's outputs through this map).
OPERATOR_OUTPUTS: dict[str, str] = {
    "UserPoolId": env_name("user_pool_id"),
    "AppClientId": env_name("app_client_ids"),
    "DataKeyArn": env_name("data_key_id"),
    "BlindIndexKeyArn": env_name("blind_index_key_id"),
    # The auditor's trust anchor too: `aws kms get-public-key --key-id <AuditKeyArn>` gives the key
    # that verifies every checkpoint (README "Audit journal"); GET /v1/audit/public-key serves it.
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
# What the operator may read of a record (devtools/status.py's projections, with the keys of the
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


class RegionNotAllowedError(ValueError):
    """A deployment outside the HDS-certified EEA regions."""


def check_region(region: str) -> str:
    if region not in HDS_REGIONS:
        raise RegionNotAllowedError(
            f"region {region!r} is not an HDS-certified EEA region; health data may only be deployed to: "
            f"{', '.join(HDS_REGIONS)} (default {DEFAULT_REGION})"
        )
    return region


@dataclass(frozen=True)
class Function:
    """A Lambda function of the Chalice app, as `chalice package` names it."""

    name: str  # e.g. api_handler, export_to_sidep
    logical_id: str  # e.g. APIHandler, ExportToSidep

    @property
    def role(self) -> str:
        try:
            return FUNCTION_ROLES[self.name]
        except KeyError:
            raise ValueError(
                f"function {self.name!r} has no IAM role: map it in infra.template.FUNCTION_ROLES "
                "(with the least privilege it needs) before packaging"
            ) from None

    @property
    def role_id(self) -> str:
        return f"{self.logical_id}Role"

    @property
    def policy_id(self) -> str:
        return f"{self.logical_id}Policy"

    @property
    def log_group_id(self) -> str:
        return f"{self.logical_id}LogGroup"

    def function_name(self) -> dict[str, str]:
        return {"Fn::Sub": f"${{AWS::StackName}}-{self.name}"}

    def log_group_name(self) -> dict[str, str]:
        return {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{self.name}"}


# --- helpers -------------------------------------------------------------------------------------


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _skip(*checks: tuple[str, str]) -> dict[str, Any]:
    """checkov skips, each with the reason it does not apply."""
    return {"checkov": {"skip": [{"id": check, "comment": comment} for check, comment in checks]}}


def _tags(stage: str) -> list[dict[str, str]]:
    return [
        {"Key": "app", "Value": APP_NAME},
        {"Key": "stage", "Value": stage},
        {"Key": "data", "Value": "hds"},
    ]


def table_logical_id(model: type[Model]) -> str:
    return "".join(part.capitalize() for part in TABLE_SETTINGS[model].split("_"))


def table_name(model: type[Model], stage: str) -> str:
    base: str = getattr(Settings, TABLE_SETTINGS[model])
    return f"{base}-{stage}"


def ttl_attribute(model: type[Model]) -> str | None:
    for name, attr in model.get_attributes().items():
        if isinstance(attr, TTLAttribute):
            return attr.attr_name or name
    return None


# --- tables --------------------------------------------------------------------------------------


def _key_schema(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    ordered = sorted(keys, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def table_schema(model: type[Model]) -> dict[str, Any]:
    """Key schema, attribute definitions and GSIs exactly as PynamoDB creates the table locally."""
    schema: dict[str, Any] = dict(model._get_schema())  # what Model.create_table sends to DynamoDB
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    result: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in sorted(definitions.items())
        ],
        "KeySchema": _key_schema(schema["key_schema"]),
    }
    for source, prop in (
        ("global_secondary_indexes", "GlobalSecondaryIndexes"),
        ("local_secondary_indexes", "LocalSecondaryIndexes"),
    ):
        indexes = []
        for index in sorted(schema.get(source) or [], key=lambda i: i["index_name"]):
            projection = {"ProjectionType": index["projection"]["ProjectionType"]}
            if index["projection"].get("NonKeyAttributes"):
                projection["NonKeyAttributes"] = list(index["projection"]["NonKeyAttributes"])
            indexes.append(
                {
                    "IndexName": index["index_name"],
                    "KeySchema": _key_schema(index["key_schema"]),
                    "Projection": projection,
                }
            )
        if indexes:
            result[prop] = indexes
    return result


def _table(model: type[Model], stage: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "TableName": table_name(model, stage),
        "BillingMode": "PAY_PER_REQUEST",
        **table_schema(model),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "DeletionProtectionEnabled": True,
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": _arn("StorageKey")},
        "Tags": _tags(stage),
    }
    ttl = ttl_attribute(model)
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    view = getattr(model.Meta, "stream_view_type", None)
    if view:
        props["StreamSpecification"] = {"StreamViewType": view}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


# --- KMS -----------------------------------------------------------------------------------------


def _root() -> dict[str, Any]:
    return {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")}


def _admin_statement() -> dict[str, Any]:
    # The account (its administrators through IAM) manages the key; no function role does.
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": _root(),
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
        principal = {"AWS": _arn(fn.role_id)}
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
                    services.append(_sub("secretsmanager.${AWS::Region}.amazonaws.com"))
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


def _key(
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
        "Tags": _tags(stage),
    }
    if spec == "SYMMETRIC_DEFAULT":
        props["EnableKeyRotation"] = True
    return {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


def _keys(functions: list[Function], stage: str) -> dict[str, Any]:
    hmac_skip = _skip(
        (
            "CKV_AWS_7",
            "HMAC_256 keys cannot rotate automatically in KMS, and the blind index and audit "
            "checkpoints must stay verifiable: rotation is a planned re-index/re-checkpoint.",
        )
    )
    via_dynamodb = {
        "StringEquals": {
            "kms:ViaService": [
                _sub("dynamodb.${AWS::Region}.amazonaws.com"),
                _sub("sqs.${AWS::Region}.amazonaws.com"),
                _sub("s3.${AWS::Region}.amazonaws.com"),
            ],
            "kms:CallerAccount": {"Ref": "AWS::AccountId"},
        }
    }
    services = {
        "Sid": "ServicesEncryptLogsTopicAndAlarms",
        "Effect": "Allow",
        "Principal": {"Service": [_sub("logs.${AWS::Region}.amazonaws.com"), "cloudwatch.amazonaws.com"]},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    resources: dict[str, Any] = {
        "DataKey": _key(
            "depistage personal data (envelope encryption of the patient's identity)",
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            _function_key_statements("DataKey", functions),
            stage,
        ),
        "BlindIndexKey": {
            **_key(
                "depistage NIR blind index (HMAC)",
                "HMAC_256",
                "GENERATE_VERIFY_MAC",
                _function_key_statements("BlindIndexKey", functions),
                stage,
            ),
            "Metadata": hmac_skip,
        },
        "AuditKey": {
            **_key(
                "depistage audit checkpoints (ECDSA signatures, checkpoint function only)",
                AUDIT_KEY_SPEC,
                "SIGN_VERIFY",
                _function_key_statements("AuditKey", functions),
                stage,
            ),
            "Metadata": _skip(
                (
                    "CKV_AWS_7",
                    "Asymmetric keys cannot rotate automatically in KMS, and every checkpoint signed "
                    "must stay verifiable with the published public key.",
                )
            ),
        },
        "SessionKey": {
            **_key(
                "depistage session tokens after a Pro Santé Connect login (RS256 signatures)",
                "RSA_2048",
                "SIGN_VERIFY",
                _function_key_statements("SessionKey", functions),
                stage,
            ),
            "Metadata": _skip(
                (
                    "CKV_AWS_7",
                    "Asymmetric KMS keys cannot rotate automatically: rotation is a new key whose "
                    "public key the JWKS publishes next to the old one until its tokens expire (15 min).",
                )
            ),
        },
        "StorageKey": _key(
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


# --- the SI-DEP client certificate ---------------------------------------------------------------

SIDEP_TLS_SECRET = "SidepTlsSecret"
SIDEP_TLS_KEY = "SidepTlsKey"


def _sidep_tls_secret(functions: list[Function], stage: str) -> dict[str, Any]:
    """The secret that holds the SI-DEP client certificate, its key and the CA bundle (one JSON
    value, chalicelib/adapters/sidep/credentials.py), created empty: the operator sets its value
    (README, Deployment), never this template. Its own KMS key: only the export decrypts it, and
    only through Secrets Manager."""
    senders = [fn for fn in functions if fn.name in SIDEP_FUNCTIONS]
    statements: list[dict[str, Any]] = []  # _key() puts the account administrators first
    for fn in functions:
        principal = {"AWS": _arn(fn.role_id)}
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
                            "kms:ViaService": _sub("secretsmanager.${AWS::Region}.amazonaws.com"),
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
        SIDEP_TLS_KEY: _key(
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
                "Name": _sub("${AWS::StackName}/sidep-tls"),
                "Description": (
                    "SI-DEP mutual TLS: JSON {certificate, private_key, ca_bundle} in PEM, set by the "
                    "operator (put-secret-value); the export re-reads it within SIDEP_TLS_MAX_AGE_SECONDS"
                ),
                "KmsKeyId": {"Ref": SIDEP_TLS_KEY},
                "Tags": _tags(stage),
            },
            "Metadata": _skip(
                (
                    "CKV2_AWS_57",
                    "The client certificate is issued by SI-DEP's certificate authority on request: "
                    "no Lambda can rotate it; the operator rotates it with put-secret-value (README).",
                )
            ),
        },
    }


def _sidep_tls_statements() -> list[dict[str, Any]]:
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
            "Resource": _arn(SIDEP_TLS_KEY),
        },
    ]


# --- the WORM copy of the audit journal ---------------------------------------------------------


def _worm_bucket(functions: list[Function], stage: str) -> dict[str, Any]:
    roles = [{"Fn::GetAtt": [fn.role_id, "Arn"]} for fn in functions]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [_arn("AuditWormBucket"), _sub("${AuditWormBucket.Arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if roles:
        statements.append(
            {
                "Sid": "NoFunctionTouchesTheLock",
                "Effect": "Deny",
                "Principal": {"AWS": roles},
                "Action": list(WORM_FORBIDDEN),
                "Resource": [_arn("AuditWormBucket"), _sub("${AuditWormBucket.Arn}/*")],
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
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": _arn("StorageKey"),
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
                "Tags": _tags(stage),
            },
            "Metadata": _skip(
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


# --- IAM -----------------------------------------------------------------------------------------


def _table_arns(setting: str) -> list[Any]:
    model = next(m for m, s in TABLE_SETTINGS.items() if s == setting)
    logical = table_logical_id(model)
    return [_arn(logical), _sub(f"${{{logical}.Arn}}/index/*")]


def _stream_arn(setting: str) -> dict[str, list[str]]:
    model = next(m for m, s in TABLE_SETTINGS.items() if s == setting)
    return {"Fn::GetAtt": [table_logical_id(model), "StreamArn"]}


def _export_record_statements() -> list[dict[str, Any]]:
    # DynamoDB fine-grained access control: an UpdateItem naming any attribute outside the list
    # is refused, and one naming a personal attribute is denied outright (explicit deny wins).
    records = _table_arns("records_table")
    return [
        {
            "Sid": "RecordsDeliveryBookkeepingOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": records,
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:Attributes": list(EXPORT_WRITABLE_ATTRIBUTES)}
            },
        },
        {
            "Sid": "NeverWritePersonalData",
            "Effect": "Deny",
            "Action": list(DYNAMODB_WRITES),
            "Resource": records,
            "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": list(PERSONAL_ATTRIBUTES)}},
        },
        {
            "Sid": "NeverCreateOrDeleteRecords",
            "Effect": "Deny",
            "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
            "Resource": records,
        },
    ]


def _purge_record_statements() -> list[dict[str, Any]]:
    return [
        {
            "Sid": "RecordsErasureOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": _table_arns("records_table"),
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:Attributes": list(PURGE_WRITABLE_ATTRIBUTES)}
            },
        }
    ]


def _export_event_statements(fn: Function) -> list[dict[str, Any]]:
    """The sweeper sends the fan-out's messages, the shard consumer receives them: each only its
    own part (the trigger reads the records table's stream as every stream consumer does)."""
    if fn.name == "export_to_sidep":
        return [
            {
                "Sid": "FanOutPerShard",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": _arn("ExportFanoutQueue"),
            }
        ]
    if fn.name == "export_shard":
        return [
            {
                "Sid": "ConsumeFanOut",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": _arn("ExportFanoutQueue"),
            }
        ]
    return []


def member_session_attributes() -> list[str]:
    """What ending a user's sessions writes of a membership (MembershipRepository.end_sessions): its
    key and its "tokens not before", never its role or pharmacy."""
    keys = [
        attr.attr_name
        for attr in MemberModel.get_attributes().values()
        if attr.is_hash_key or attr.is_range_key
    ]
    return [*keys, MemberModel.tokens_not_before.attr_name]


def _session_statements() -> list[dict[str, Any]]:
    return [
        {
            "Sid": "MembershipTokensNotBeforeOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": _table_arns("members_table"),
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": member_session_attributes()}},
        },
        {
            # a user's own sign-out names them by `sub` only (chalicelib/services/identity_events.py)
            "Sid": "FindAUserBySub",
            "Effect": "Allow",
            "Action": ["cognito-idp:ListUsers"],
            "Resource": _arn("UserPool"),
        },
    ]


def role_policy_document(fn: Function) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _sub(
                f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}"
                f":log-group:/aws/lambda/${{AWS::StackName}}-{fn.name}:*"
            ),
        }
    ]
    for setting, actions in ROLE_TABLES[fn.role].items():
        statements.append(
            {
                "Sid": "Table" + "".join(p.capitalize() for p in setting.split("_")),
                "Effect": "Allow",
                "Action": list(actions),
                "Resource": _table_arns(setting),
            }
        )
    if fn.role == "export":
        statements.extend(_export_record_statements())
        statements.extend(_export_event_statements(fn))
    if fn.role == "purge":
        statements.extend(_purge_record_statements())
    if fn.role == "sessions":
        statements.extend(_session_statements())
    if fn.name in SIDEP_FUNCTIONS:
        statements.extend(_sidep_tls_statements())
    if fn.name in STREAM_FUNCTIONS:
        statements.append(
            {
                "Sid": "ReadItsStream",
                "Effect": "Allow",
                "Action": list(STREAM_READ),
                "Resource": _stream_arn(STREAM_FUNCTIONS[fn.name]),
            }
        )
    if fn.role == "worm":
        statements.append(
            {
                "Sid": "AddToTheWormCopy",
                "Effect": "Allow",
                "Action": list(WORM_WRITE),
                "Resource": _sub("${AuditWormBucket.Arn}/audit/*"),
            }
        )
    if fn.role == "audit":
        statements.append(
            {
                # The signer sets a malformed item aside there (chalicelib/adapters/worm.py), add-only.
                "Sid": "SetMalformedItemsAside",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": _sub("${AuditWormBucket.Arn}/audit/quarantine/checkpoint/*"),
            }
        )
    for key_id, actions in KEY_USE[fn.role].items():
        statements.append(
            {"Sid": f"Use{key_id}", "Effect": "Allow", "Action": list(actions), "Resource": _arn(key_id)}
        )
    if fn.role == "api":
        statements.append(
            {
                # The platform's one-time mark of a pharmacy's first admin (adapters/dynamodb/directory.py).
                "Sid": "PharmacyFirstAdminMarkOnly",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": _table_arns("pharmacies_table"),
                "Condition": {
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": ["finess", "first_admin"]}
                },
            }
        )
        statements.append(
            {
                "Sid": "InviteAndRevokeMembers",
                "Effect": "Allow",
                "Action": list(COGNITO_ADMIN_ACTIONS),
                "Resource": _arn("UserPool"),
            }
        )
        statements.append(
            {
                "Sid": "ReadThePscClientSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": {"Ref": "PscClientSecret"},
            }
        )
        statements.append(
            {
                "Sid": "ReadTheDirectoryApiKey",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": {"Ref": "PscDirectoryApiKey"},
            }
        )
    if fn.role in ASYNC_ROLES or fn.name in MAPPED_FUNCTIONS:
        statements.append(
            {
                "Sid": "DeadLetters",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": _arn("DeadLetterQueue"),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _roles(functions: list[Function], stage: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for fn in functions:
        resources[fn.role_id] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": f"depistage {stage}: {fn.name} only",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
                "Tags": _tags(stage),
            },
        }
        # A separate policy, so that the key policies can name the role without a cycle.
        resources[fn.policy_id] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"{fn.name}-least-privilege",
                "Roles": [{"Ref": fn.role_id}],
                "PolicyDocument": role_policy_document(fn),
            },
        }
    return resources


# --- functions -----------------------------------------------------------------------------------


def function_environment(fn: Function, stage: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        env_name("stage"): stage,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray SDK in the package
        env_name("data_key_id"): _arn("DataKey"),
        env_name("blind_index_key_id"): _arn("BlindIndexKey"),
        env_name("audit_key_id"): _arn("AuditKey"),
        env_name("audit_worm_bucket"): {"Ref": "AuditWormBucket"},
        env_name("user_pool_id"): {"Ref": "UserPool"},
        env_name("app_client_ids"): {"Ref": "UserPoolClient"},
    }
    for model, setting in TABLE_SETTINGS.items():
        env[env_name(setting)] = {"Ref": table_logical_id(model)}
    if fn.role == "api":
        env.update(
            {
                env_name("psc_discovery_url"): {
                    "Fn::FindInMap": ["PscEnvironments", {"Ref": "PscEnvironment"}, "DiscoveryUrl"]
                },
                env_name("psc_client_id"): {"Ref": "PscClientId"},
                env_name("psc_directory_url"): {"Ref": "PscDirectoryUrl"},
                env_name("psc_directory_api_key_secret_id"): {"Ref": "PscDirectoryApiKey"},
                env_name("psc_client_secret_id"): {"Ref": "PscClientSecret"},
                env_name("session_key_id"): _arn("SessionKey"),
            }
        )
    if fn.name in SIDEP_FUNCTIONS:
        # (SIDEP_MAX_CONCURRENCY is the local stack's: in AWS the mappings' limits bound it)
        if fn.name == "export_to_sidep":
            env[env_name("export_fanout_queue_url")] = {"Ref": "ExportFanoutQueue"}
        env.update(
            {
                env_name("sidep_url"): {"Ref": "SidepUrl"},
                env_name("sidep_tls_secret_id"): {"Ref": SIDEP_TLS_SECRET},  # Ref of a secret: its ARN
            }
        )
    return env


def _function_overrides(fn: Function, stage: str) -> dict[str, Any]:
    skips = [
        (
            "CKV_AWS_117",
            "No VPC: the functions reach only AWS regional endpoints (TLS, IAM-authorised) and "
            "SI-DEP (mutual TLS); there is no private resource to reach.",
        ),
        (
            "CKV_AWS_173",
            "The environment holds resource names and key ARNs only, no secret; Lambda encrypts "
            "it at rest with its AWS-managed key.",
        ),
    ]
    props: dict[str, Any] = {
        "FunctionName": fn.function_name(),
        "Role": _arn(fn.role_id),
        "Tracing": "PassThrough",
        "Environment": {"Variables": function_environment(fn, stage)},
    }
    if fn.name in STREAM_FUNCTIONS:
        # Chalice wrote a placeholder stream ARN (chalicelib/api/streams.py): the table's own here.
        # One batch in flight per shard.
        props["Events"] = {
            _event_source_id(fn, "dynamodb"): {
                "Type": "DynamoDB",
                "Properties": {
                    "Stream": _stream_arn(STREAM_FUNCTIONS[fn.name]),
                    "StartingPosition": "TRIM_HORIZON",
                    "ParallelizationFactor": 1,
                    **STREAM_DELIVERY.get(fn.name, STREAM_UNTIL_DONE),
                },
            }
        }
        props["ReservedConcurrentExecutions"] = 1
    if fn.name in MAPPED_FUNCTIONS:
        if fn.name == "export_shard":
            props.update(_fanout_consumer_overrides(fn))
        skips.append(
            (
                "CKV_AWS_116",
                "Invoked by an event source mapping, never asynchronously: the stream mapping's "
                "on-failure destination and the fan-out queue's redrive policy dead-letter instead.",
            )
        )
    elif fn.role in ASYNC_ROLES:
        props["DeadLetterQueue"] = {"Type": "SQS", "TargetArn": _arn("DeadLetterQueue")}
        # One run at a time: runs are 5 minutes apart and leases make overlaps safe anyway.
        props["ReservedConcurrentExecutions"] = 1
    else:
        skips += [
            (
                "CKV_AWS_116",
                "Invoked synchronously by API Gateway: the caller gets the error, there is no "
                "asynchronous event to dead-letter.",
            ),
            (
                "CKV_AWS_115",
                "Concurrency is bounded upstream by API Gateway stage throttling and the WAF "
                "rate-based rule; reserving it would starve the account's other functions.",
            ),
        ]
    return {
        "DependsOn": [fn.policy_id, fn.log_group_id],
        "Properties": props,
        "Metadata": _skip(*skips),
    }


def _event_source_id(fn: Function, kind: str) -> str:
    """The logical id `chalice package` gives a function's event source (chalice.deploy.appgraph)."""
    from chalice.utils import to_cfn_resource_name

    return to_cfn_resource_name(f"{fn.name}-{kind}-event-source")


def _fanout_consumer_overrides(fn: Function) -> dict[str, Any]:
    """The fan-out consumer's queue (ours, not the decorator's placeholder) and its limit:
    SidepMaxConcurrency bounds the shard exporters talking to SI-DEP at once."""
    return {
        "ReservedConcurrentExecutions": {"Ref": "SidepMaxConcurrency"},
        "Events": {
            _event_source_id(fn, "sqs"): {
                "Type": "SQS",
                "Properties": {
                    "Queue": {"Fn::GetAtt": ["ExportFanoutQueue", "Arn"]},
                    "ScalingConfig": {"MaximumConcurrency": {"Ref": "SidepMaxConcurrency"}},
                },
            }
        },
    }


def _log_group(name: Any, stage: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "LogGroupName": name,
            "RetentionInDays": LOG_RETENTION_DAYS,
            "KmsKeyId": _arn("StorageKey"),
            "Tags": _tags(stage),
        },
    }


# --- API, WAF ------------------------------------------------------------------------------------

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTimeEpoch","httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath","status":$context.status,'
    '"responseLength":"$context.responseLength","wafStatus":"$context.waf.status"}'
)


GATEWAY_RESPONSES: tuple[tuple[str, str, str], ...] = (
    ("DEFAULT_4XX", "404", "Not found"),
    ("DEFAULT_5XX", "503", "Service unavailable"),
    ("THROTTLED", "429", "Too many requests"),
    ("WAF_FILTERED", "403", "Forbidden"),
)


def _gateway_response(kind: str, status: str, title: str) -> dict[str, Any]:
    body = {"type": "about:blank", "title": title, "status": int(status), "detail": title + "."}
    return {
        "Type": "AWS::ApiGateway::GatewayResponse",
        "Properties": {
            "RestApiId": {"Ref": "RestAPI"},
            "ResponseType": kind,
            "StatusCode": status,
            "ResponseTemplates": {"application/json": json.dumps(body)},
            "ResponseParameters": {
                "gatewayresponse.header.Content-Type": "'application/problem+json'",
                "gatewayresponse.header.Cache-Control": "'no-store'",
            },
        },
    }


def _api(stage_name: str, stage: str) -> dict[str, Any]:
    return {
        "RestAPI": {
            "DependsOn": ["ApiGatewayAccount"],
            "Properties": {
                "TracingEnabled": False,
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
                        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
                        "MetricsEnabled": True,
                        # ERROR only, never INFO: INFO would log request bodies (personal data).
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                    }
                ],
                "AccessLogSetting": {
                    "DestinationArn": _arn("ApiAccessLogGroup"),
                    "Format": ACCESS_LOG_FORMAT,
                },
                "Tags": {"app": APP_NAME, "stage": stage},
            },
            "Metadata": _skip(
                (
                    "CKV_AWS_120",
                    "No response caching: responses carry health data that must not sit in a cache.",
                ),
                (
                    "CKV_AWS_73",
                    "X-Ray is deliberately off (no tracing SDK shipped, no trace store to govern).",
                ),
            ),
        },
        # API Gateway's own errors (unknown route, WAF block, throttle) as problem+json with a fixed
        # text: its default "Missing Authentication Token" body echoes the Authorization header.
        **{
            f"GatewayResponse{kind.title().replace('_', '')}": _gateway_response(kind, status, title)
            for kind, status, title in GATEWAY_RESPONSES
        },
        "ApiAccessLogGroup": _log_group(_sub(f"/aws/apigateway/${{AWS::StackName}}-{stage_name}"), stage),
        # API Gateway writes logs through one account-wide role.
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    _sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                    )
                ],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": _arn("ApiGatewayCloudWatchRole")},
        },
    }


def _waf(stage_name: str, stage: str) -> dict[str, Any]:
    def managed(name: str, priority: int) -> dict[str, Any]:
        return {
            "Name": name,
            "Priority": priority,
            "OverrideAction": {"None": {}},
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
            "VisibilityConfig": {
                "SampledRequestsEnabled": False,
                "CloudWatchMetricsEnabled": True,
                "MetricName": name,
            },
        }

    return {
        "WebAcl": {
            "Type": "AWS::WAFv2::WebACL",
            "Properties": {
                "Name": _sub("${AWS::StackName}-api"),
                "Scope": "REGIONAL",
                "DefaultAction": {"Allow": {}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": False,  # samples would keep request headers (tokens)
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "depistage-api",
                },
                "Rules": [
                    {
                        "Name": "RateLimitPerIp",
                        "Priority": 0,
                        "Action": {"Block": {}},
                        "Statement": {
                            "RateBasedStatement": {"Limit": {"Ref": "WafRateLimit"}, "AggregateKeyType": "IP"}
                        },
                        "VisibilityConfig": {
                            "SampledRequestsEnabled": False,
                            "CloudWatchMetricsEnabled": True,
                            "MetricName": "RateLimitPerIp",
                        },
                    },
                    managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                    managed("AWSManagedRulesCommonRuleSet", 2),
                ],
                "Tags": _tags(stage),
            },
        },
        "WebAclAssociation": {
            "Type": "AWS::WAFv2::WebACLAssociation",
            "DependsOn": [f"RestAPI{stage_name}Stage"],  # the stage SAM generates for RestAPI
            "Properties": {
                "ResourceArn": _sub(
                    f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{RestAPI}}/stages/{stage_name}"
                ),
                "WebACLArn": _arn("WebAcl"),
            },
        },
        # WAF requires its log group name to start with aws-waf-logs-.
        "WafLogGroup": _log_group(_sub("aws-waf-logs-${AWS::StackName}"), stage),
        "WafLogging": {
            "Type": "AWS::WAFv2::LoggingConfiguration",
            "Properties": {
                "ResourceArn": _arn("WebAcl"),
                "LogDestinationConfigs": [_arn("WafLogGroup")],
                # Bearer tokens and cookies never reach the logs, nor paths: a PSC login's poll
                # path carries its handle (services/psc_login.py), which collects the session.
                "RedactedFields": [
                    {"SingleHeader": {"Name": "authorization"}},
                    {"SingleHeader": {"Name": "cookie"}},
                    {"UriPath": {}},
                ],
            },
        },
    }


# --- Cognito -------------------------------------------------------------------------------------


def pool_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


def client_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}-mobile"


# CreateUserPool parameters whose CloudFormation property has another name.
POOL_API_TO_CFN = {"PoolName": "UserPoolName"}


def pool_properties(stage: str) -> dict[str, Any]:
    """The local stack's user pool settings (devtools/provision.py), as CFN properties."""
    return {POOL_API_TO_CFN.get(k, k): v for k, v in user_pool_settings(pool_name(stage)).items()}


def _cognito(stage: str) -> dict[str, Any]:
    return {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": pool_properties(stage),
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {**app_client_settings(client_name(stage)), "UserPoolId": {"Ref": "UserPool"}},
        },
    }


def _psc_secret(stage: str) -> dict[str, Any]:
    """PSC's client secret: created with a placeholder, set by the operator from PSC's portal
    (`aws secretsmanager put-secret-value --secret-id <PscClientSecretArn> --secret-string …`)."""
    return {
        "PscClientSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": f"{APP_NAME}-{stage}/psc-client-secret",
                "Description": "Pro Santé Connect client secret (HTTP Basic on the CIBA endpoints)",
                "KmsKeyId": _arn("StorageKey"),
                "GenerateSecretString": {"PasswordLength": 32, "ExcludePunctuation": True},
                "Tags": _tags(stage),
            },
            "Metadata": _skip(
                (
                    "CKV2_AWS_57",
                    "PSC issues the client secret in its portal: rotation is done there, then put "
                    "here by the operator; a rotation Lambda could not obtain a new one.",
                )
            ),
        },
        # The national directory's API key (ANS Annuaire Santé, `ESANTE-API-KEY`), read at
        # invitation: created with a placeholder, set by the operator from the ANS's API portal
        # (`aws secretsmanager put-secret-value --secret-id <PscDirectoryApiKeyArn> --secret-string …`).
        "PscDirectoryApiKey": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": f"{APP_NAME}-{stage}/annuaire-sante-api-key",
                "Description": "ANS Annuaire Santé FHIR API key (ESANTE-API-KEY header), read at invitation",
                "KmsKeyId": _arn("StorageKey"),
                "GenerateSecretString": {"PasswordLength": 32, "ExcludePunctuation": True},
                "Tags": _tags(stage),
            },
            "Metadata": _skip(
                (
                    "CKV2_AWS_57",
                    "The ANS issues the API key in its portal: rotation is done there, then put "
                    "here by the operator; a rotation Lambda could not obtain a new one.",
                )
            ),
        },
    }


# --- monitoring ----------------------------------------------------------------------------------


def _alarm(
    description: str,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, Any]],
    threshold: float,
    *,
    statistic: str = "Sum",
    period: int = 300,
    periods: int = 1,
    missing: str = "notBreaching",
    comparison: str = "GreaterThanOrEqualToThreshold",
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": statistic,
            "Period": period,
            "EvaluationPeriods": periods,
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            "TreatMissingData": missing,
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def _monitoring(functions: list[Function], stage_name: str) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": _sub("${AWS::StackName}-alarms"),
                "KmsMasterKeyId": {"Ref": "StorageKey"},
            },
        },
        "AlarmSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": {"Ref": "AlarmTopic"},
                "Protocol": "email",
                "Endpoint": {"Ref": "AlarmEmail"},
            },
        },
        "Api5xxAlarm": _alarm(
            "The API answered 5xx",
            "AWS/ApiGateway",
            "5XXError",
            [{"Name": "ApiName", "Value": APP_NAME}, {"Name": "Stage", "Value": stage_name}],
            1,
        ),
        "AuthFailuresMetricFilter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "ApiAccessLogGroup"},
                "FilterPattern": "{ ($.status = 401) || ($.status = 403) }",
                "MetricTransformations": [
                    {
                        "MetricNamespace": "Depistage",
                        "MetricName": AUTH_FAILURE_METRIC,
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        },
        "AuthFailuresAlarm": _alarm(
            "A burst of authentication/authorisation failures (401/403)",
            "Depistage",
            AUTH_FAILURE_METRIC,
            [],
            AUTH_FAILURE_BURST,
        ),
        # Counted by the service (chalicelib/services/refusals.py), one per refusal, while the
        # journal keeps one event per source, reason and window.
        "UnauthenticatedRefusalsAlarm": _alarm(
            "A flood of requests without a valid identity (401, or 403 for a token of no member)",
            "Depistage",
            UNAUTHENTICATED_REFUSALS_METRIC,
            [],
            UNAUTHENTICATED_REFUSALS_BURST,
        ),
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": _sub("${AWS::StackName}-dead-letters"),
                "MessageRetentionPeriod": 1209600,
                "KmsMasterKeyId": {"Ref": "StorageKey"},
            },
        },
        # The sweeper's fan-out: one message per export-queue shard, consumed by export_shard.
        # A message older than two sweeps is stale (the next sweep sends it again).
        "ExportFanoutQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": _sub("${AWS::StackName}-export-shards"),
                "MessageRetentionPeriod": 600,
                "VisibilityTimeout": EXPORT_SHARD_VISIBILITY_SECONDS,
                "KmsMasterKeyId": {"Ref": "StorageKey"},
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 2,
                },
            },
        },
        "DeadLettersAlarm": _alarm(
            "A scheduled run failed for good (dead-lettered)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}],
            1,
            statistic="Maximum",
        ),
    }
    for fn in functions:
        resources[f"{fn.logical_id}JournalFailuresFilter"] = {
            "Type": "AWS::Logs::MetricFilter",
            "DependsOn": [fn.log_group_id],
            "Properties": {
                "LogGroupName": fn.log_group_name(),
                "FilterPattern": JOURNAL_APPEND_FAILURE_PATTERN,
                "MetricTransformations": [
                    {
                        "MetricNamespace": "Depistage",
                        "MetricName": JOURNAL_APPEND_FAILURE_METRIC,
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        }
    resources["JournalAppendFailuresAlarm"] = _alarm(
        "The audit journal could not be appended to (each one a 503: nothing disclosed untraced)",
        "Depistage",
        JOURNAL_APPEND_FAILURE_METRIC,
        [],
        1,
    )
    # The journal's watchers (chalicelib/adapters/worm.py, adapters/dynamodb/journal.py): a table
    # item rewritten after its WORM copy, and an item set aside as malformed; each one is an alarm.
    resources["AuditWormDiffersAlarm"] = _alarm(
        "An audit item differs from its WORM copy: the table was rewritten (run verify_audit)",
        "Depistage",
        AUDIT_WORM_DIFFERS,
        [],
        1,
    )
    resources["AuditQuarantinedAlarm"] = _alarm(
        "A journal watcher set a malformed audit item aside (the WORM bucket's audit/quarantine/)",
        "Depistage",
        AUDIT_QUARANTINED,
        [],
        1,
    )
    for fn in functions:
        resources[f"{fn.logical_id}ThrottlesAlarm"] = _alarm(
            f"{fn.name} is throttled",
            "AWS/Lambda",
            "Throttles",
            [{"Name": "FunctionName", "Value": {"Ref": fn.logical_id}}],
            1,
        )
        resources[f"{fn.logical_id}ErrorsAlarm"] = _alarm(
            f"{fn.name} failed",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": fn.logical_id}}],
            1,
        )
    if any(fn.name == "export_to_sidep" for fn in functions):
        resources["ExportLagAlarm"] = _alarm(
            "Records wait too long for SI-DEP (or the export stopped reporting)",
            "Depistage",
            EXPORT_LAG_METRIC,
            [{"Name": "service", "Value": APP_NAME}],
            EXPORT_LAG_THRESHOLD_SECONDS,
            statistic="Maximum",
            periods=2,
            missing="breaching",  # an export that stops running stops reporting
        )
        resources["ExportDeadLettersAlarm"] = _alarm(
            "Records gave up on SI-DEP after every retry (dead letters): re-drive them",
            "Depistage",
            "ExportFailed",
            [{"Name": "service", "Value": APP_NAME}],
            thresholds.DEAD_LETTERS,
            statistic="Sum",
        )
        resources["ExportQuarantineAlarm"] = _alarm(
            "The export set aside a queued record it cannot read (quarantined, out of the queue): "
            "see the export's ERROR log for its id, repair it, then re-queue it",
            "Depistage",
            "ExportQuarantined",
            [{"Name": "service", "Value": APP_NAME}],
            1,
            statistic="Sum",
        )
        resources["ExportSentMarkerMissingAlarm"] = _alarm(
            "A lease met a record saying it was sent without its write-once sent marker (its "
            "first_sent_at was written by someone else): the lease made the marker; "
            "see the export's ERROR log",
            "Depistage",
            "ExportSentMarkerMissing",
            [{"Name": "service", "Value": APP_NAME}],
            1,
            statistic="Sum",
        )
        # The sweeper runs every 5 minutes: failures in two windows in a row = failing over 5 minutes.
        resources["SidepFailingAlarm"] = _alarm(
            "SI-DEP answers no batch (unreachable, TLS, 5xx, 429) for over "
            f"{thresholds.SIDEP_FAILING_SECONDS // 60} minutes: README 'Operating the service'",
            "Depistage",
            SIDEP_FAILING_METRIC,
            [{"Name": "service", "Value": APP_NAME}],
            1,
            period=thresholds.SIDEP_FAILING_SECONDS,
            periods=2,
        )
        resources["ExportUnacknowledgedAlarm"] = _alarm(
            "A result waits over "
            f"{thresholds.OLDEST_UNACKNOWLEDGED_SECONDS // 60} minutes for SI-DEP's acknowledgement "
            "(queued, in flight or in backoff): README 'Operating the service'",
            "Depistage",
            UNACKNOWLEDGED_METRIC,
            [{"Name": "service", "Value": APP_NAME}],
            thresholds.OLDEST_UNACKNOWLEDGED_SECONDS,
            statistic="Maximum",
        )
        resources["SidepRejectionsAlarm"] = _alarm(
            "SI-DEP rejected records (AE/AR): their pharmacy must correct them (make status names the codes)",
            "Depistage",
            "ExportRejected",
            [{"Name": "service", "Value": APP_NAME}],
            thresholds.REJECTIONS,
            period=thresholds.REJECTIONS_WINDOW_SECONDS,
        )
    by_name = {fn.name: fn for fn in functions}
    if "audit_to_worm" in by_name:
        resources["AuditWormLagAlarm"] = _alarm(
            f"The WORM copy of the audit journal lags over {thresholds.WORM_LAG_SECONDS // 60} minutes "
            "behind the journal (the stream's iterator age)",
            "AWS/Lambda",
            "IteratorAge",
            [{"Name": "FunctionName", "Value": {"Ref": by_name["audit_to_worm"].logical_id}}],
            thresholds.WORM_LAG_SECONDS * 1000,  # milliseconds
            statistic="Maximum",
        )
    if "checkpoint_audit" in by_name:
        resources["AuditCheckpointStaleAlarm"] = _alarm(
            "No audit checkpoint was signed for over "
            f"{thresholds.CHECKPOINT_STALE_SECONDS // 3600} hours (the hourly heartbeat did not run)",
            "AWS/Lambda",
            "Invocations",
            [{"Name": "FunctionName", "Value": {"Ref": by_name["checkpoint_audit"].logical_id}}],
            1,
            period=thresholds.CHECKPOINT_STALE_SECONDS,
            missing="breaching",
            comparison="LessThanThreshold",
        )
    if any(fn.name == "purge_expired" for fn in functions):
        resources["RetentionUnacknowledgedNearCapAlarm"] = _alarm(
            "Records SI-DEP never acknowledged reach their retention hard cap soon: their personal "
            "data will be erased before SI-DEP has it (see the purge's warning log for their ids)",
            "Depistage",
            RETENTION_ALARM_METRIC,
            [{"Name": "service", "Value": APP_NAME}],
            1,
            statistic="Maximum",
            period=86400,
        )
    return resources


# --- operators -----------------------------------------------------------------------------------


OPERATOR_RECORD_READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan")


def operator_policy_document(functions: list[Function]) -> dict[str, Any]:
    """Exactly what the operator commands need (devtools/: status, verify_audit, export, purge):
    read the delivery attributes of records and the journal, verify (never make) checkpoints, run
    the export, redrive and purge functions with their own roles, read the metrics. Never a
    patient's data or result, never a record or journal write."""
    records = _table_arns("records_table")
    journal = [*_table_arns("audit_table"), *_table_arns("audit_checkpoints_table")]
    invokable = [fn for fn in functions if fn.name in OPERATOR_INVOKES.values()]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "FindTheStage",
            "Effect": "Allow",
            "Action": ["cloudformation:DescribeStacks"],
            "Resource": _sub(
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
            # Checkpoints are verified here with the public key, never by KMS: reading it is all.
            "Sid": "VerifyCheckpoints",
            "Effect": "Allow",
            "Action": ["kms:GetPublicKey"],
            "Resource": _arn("AuditKey"),
        },
        {
            "Sid": "ReadTheWormCopy",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [_arn("AuditWormBucket"), _sub("${AuditWormBucket.Arn}/audit/*")],
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
            "Resource": _arn("StorageKey"),
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": [
                        _sub("dynamodb.${AWS::Region}.amazonaws.com"),
                        _sub("s3.${AWS::Region}.amazonaws.com"),
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
            "Resource": _arn("DeadLetterQueue"),
        },
        {
            "Sid": "NeverReadPatients",
            "Effect": "Deny",
            "Action": "kms:*",
            "Resource": [_arn("DataKey"), _arn("BlindIndexKey")],
        },
        {
            "Sid": "NeverForgeCheckpoints",
            "Effect": "Deny",
            "Action": ["kms:Sign"],
            "Resource": _arn("AuditKey"),
        },
        {
            "Sid": "NeverTouchTheWormLock",
            "Effect": "Deny",
            "Action": list(WORM_FORBIDDEN),
            "Resource": [_arn("AuditWormBucket"), _sub("${AuditWormBucket.Arn}/*")],
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
                "Resource": [_arn(fn.logical_id) for fn in invokable],
            },
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _operators(functions: list[Function], stage: str) -> dict[str, Any]:
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
                            "Principal": _root(),  # the account's IAM decides who; with MFA only
                            "Action": "sts:AssumeRole",
                            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                        }
                    ],
                },
                "Tags": _tags(stage),
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


def _metric(namespace: str, name: str, dims: dict[str, Any], **options: Any) -> list[Any]:
    row: list[Any] = [namespace, name]
    for key, value in dims.items():
        row += [key, value]
    return [*row, options] if options else row


def dashboard_body(functions: list[Function], stage_name: str) -> dict[str, Any]:
    """The picture an operator opens first: what waits and what failed, then the API."""
    service = {"service": APP_NAME}
    api = {"ApiName": APP_NAME, "Stage": stage_name}
    names = {fn.name for fn in functions}

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum", **extra: Any) -> dict[str, Any]:
        props = {
            "title": title,
            "region": "${AWS::Region}",
            "period": 300,
            "stat": stat,
            "view": "timeSeries",
        }
        return {
            "type": "metric",
            "width": 8,
            "height": 6,
            "properties": {**props, "metrics": metrics, **extra},
        }

    widgets = [
        widget(
            "SI-DEP export throughput (records per 5 min)",
            [_metric("Depistage", name, service) for name in DASHBOARD_EXPORT_METRICS[:2]],
        ),
        widget(
            "Export queue: oldest due record (s)",
            [_metric("Depistage", EXPORT_LAG_METRIC, service)],
            stat="Maximum",
            annotations={"horizontal": [{"label": "alarm", "value": EXPORT_LAG_THRESHOLD_SECONDS}]},
        ),
        widget(
            "Oldest result SI-DEP has not acknowledged (s)",
            [_metric("Depistage", UNACKNOWLEDGED_METRIC, service)],
            stat="Maximum",
            annotations={
                "horizontal": [{"label": "alarm", "value": thresholds.OLDEST_UNACKNOWLEDGED_SECONDS}]
            },
        ),
        widget(
            "Dead letters: records and scheduled runs",
            [
                _metric("Depistage", "ExportFailed", service, label="records given up on SI-DEP"),
                _metric(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": "${DeadLetterQueue.QueueName}"},
                    stat="Maximum",
                    label="failed scheduled runs",
                ),
            ],
        ),
        widget(
            "SI-DEP rejections and retries",
            [_metric("Depistage", name, service) for name in ("ExportRejected", "ExportRetried")],
        ),
        widget(
            "SI-DEP: batches without an answer (unreachable, TLS, 5xx, 429)",
            [_metric("Depistage", SIDEP_FAILING_METRIC, service)],
        ),
        widget("Authentication failures (401/403)", [_metric("Depistage", AUTH_FAILURE_METRIC, {})]),
        widget("Audit journal append failures", [_metric("Depistage", JOURNAL_APPEND_FAILURE_METRIC, {})]),
    ]
    if "api_handler" in names:
        widgets += [
            widget(
                "API errors",
                [_metric("AWS/ApiGateway", name, api) for name in ("4XXError", "5XXError")],
            ),
            widget(
                "API latency (ms)",
                [_metric("AWS/ApiGateway", "Latency", api, stat=stat) for stat in ("p50", "p99")],
                stat="p99",
            ),
        ]
    alarms = [alarm for alarm in ("RetentionUnacknowledgedNearCapAlarm",) if "purge_expired" in names]
    alarms += [
        alarm
        for alarm in (
            "SidepFailingAlarm",
            "ExportUnacknowledgedAlarm",
            "ExportLagAlarm",
            "SidepRejectionsAlarm",
            "ExportDeadLettersAlarm",
            "ExportQuarantineAlarm",
            "ExportSentMarkerMissingAlarm",
        )
        if "export_to_sidep" in names
    ]
    alarms += [alarm for alarm in ("AuditWormLagAlarm",) if "audit_to_worm" in names]
    alarms += [alarm for alarm in ("AuditCheckpointStaleAlarm",) if "checkpoint_audit" in names]
    alarms += ["DeadLettersAlarm", "JournalAppendFailuresAlarm", "AuditWormDiffersAlarm"]
    alarms += ["AuditQuarantinedAlarm", "AuthFailuresAlarm"]
    widgets.append(
        {
            "type": "alarm",
            "width": 8,
            "height": 6,
            "properties": {
                "title": "Alarms: SI-DEP, retention, dead letters, journal and its copy",
                "alarms": [f"${{{alarm}.Arn}}" for alarm in alarms],
            },
        }
    )
    return {"widgets": widgets}


def _dashboard(functions: list[Function], stage_name: str) -> dict[str, Any]:
    return {
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": _sub("${AWS::StackName}"),
                "DashboardBody": _sub(json.dumps(dashboard_body(functions, stage_name))),
            },
        }
    }


# --- the template --------------------------------------------------------------------------------


def _parameters() -> dict[str, Any]:
    return {
        "SidepUrl": {"Type": "String", "Default": "", "Description": "SI-DEP receiver URL (https)"},
        "AlarmEmail": {"Type": "String", "Default": "", "Description": "e-mail that receives the alarms"},
        "PscEnvironment": {
            "Type": "String",
            "Default": "bas",
            "AllowedValues": sorted(PSC_ENVIRONMENTS),
            "Description": "Pro Santé Connect environment: the sandbox (bas) or production",
        },
        "PscClientId": {
            "Type": "String",
            "Default": "",
            "Description": "our client id at Pro Santé Connect (its secret: the PscClientSecret secret)",
        },
        "PscDirectoryUrl": {
            "Type": "String",
            "Default": DIRECTORY_URL,
            "AllowedPattern": "^(https://.+)?$",
            "Description": "the national directory of health professionals (ANS Annuaire Santé FHIR API "
            "base URL) read at invitation with the PscDirectoryApiKey secret "
            "(chalicelib/adapters/psc_directory.py); empty: invitations by national identifier are 503",
        },
        "SidepMaxConcurrency": {
            "Type": "Number",
            "Default": Settings.sidep_max_concurrency,
            "MinValue": 2,
            "Description": "exporters sending to SI-DEP at once (per-shard fan-out consumers)",
        },
        "ApiThrottleRate": {"Type": "Number", "Default": 50, "MinValue": 1},
        "ApiThrottleBurst": {"Type": "Number", "Default": 100, "MinValue": 1},
        "WafRateLimit": {
            "Type": "Number",
            "Default": 1000,
            "MinValue": 100,
            "Description": "requests per 5 minutes per client IP",
        },
    }


def region_rule() -> dict[str, Any]:
    return {
        "HdsRegionOnly": {
            "Assertions": [
                {
                    "Assert": {"Fn::Contains": [list(HDS_REGIONS), {"Ref": "AWS::Region"}]},
                    "AssertDescription": (
                        "Health data may only be deployed to an HDS-certified EEA region: "
                        + ", ".join(HDS_REGIONS)
                    ),
                }
            ]
        }
    }


def merge_template(
    functions: list[Function], region: str, stage: str = DEFAULT_STAGE, api_stage_name: str = "v1"
) -> dict[str, Any]:
    """The template to pass to `chalice package --merge-template`."""
    check_region(region)
    for fn in functions:
        _ = fn.role  # fail early on a function without a role
    resources: dict[str, Any] = {}
    for model in ALL_MODELS:
        resources[table_logical_id(model)] = _table(model, stage)
    resources.update(_keys(functions, stage))
    resources.update(_sidep_tls_secret(functions, stage))
    resources.update(_roles(functions, stage))
    resources.update(_worm_bucket(functions, stage))
    resources.update(_cognito(stage))
    resources.update(_psc_secret(stage))
    for fn in functions:
        resources[fn.log_group_id] = _log_group(fn.log_group_name(), stage)
        resources[fn.logical_id] = _function_overrides(fn, stage)
    if any(fn.name == "api_handler" for fn in functions):
        resources.update(_api(api_stage_name, stage))
        resources.update(_waf(api_stage_name, stage))
    resources.update(_monitoring(functions, api_stage_name))
    resources.update(_operators(functions, stage))
    resources.update(_dashboard(functions, api_stage_name))
    values: dict[str, Any] = {
        "UserPoolId": {"Ref": "UserPool"},
        "AppClientId": {"Ref": "UserPoolClient"},
        "DataKeyArn": _arn("DataKey"),
        "BlindIndexKeyArn": _arn("BlindIndexKey"),
        "AuditKeyArn": _arn("AuditKey"),
        "AuditWormBucket": {"Ref": "AuditWormBucket"},
        **{table_logical_id(model): {"Ref": table_logical_id(model)} for model in ALL_MODELS},
    }
    outputs = {
        "Region": {"Value": {"Ref": "AWS::Region"}},
        **{key: {"Value": values[key]} for key in OPERATOR_OUTPUTS},
        "SidepTlsSecretArn": {"Value": {"Ref": SIDEP_TLS_SECRET}},
        "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        "OperatorRoleArn": {"Value": _arn("OperatorRole")},
        "DashboardName": {"Value": {"Ref": "Dashboard"}},
        "PscClientSecretArn": {"Value": {"Ref": "PscClientSecret"}},
        "PscDirectoryApiKeyArn": {"Value": {"Ref": "PscDirectoryApiKey"}},
    }
    for output, name in OPERATOR_INVOKES.items():
        for fn in functions:
            if fn.name == name:
                outputs[output] = {"Value": {"Ref": fn.logical_id}}
    return {
        "Description": f"depistage ({stage}): HDS deployment, region allow-list {', '.join(HDS_REGIONS)}",
        "Metadata": {"depistage": {"region": region, "stage": stage, "hds_regions": list(HDS_REGIONS)}},
        "Parameters": _parameters(),
        "Mappings": {"PscEnvironments": PSC_ENVIRONMENTS},
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
        "Rules": region_rule(),
        "Resources": resources,
        "Outputs": outputs,
    }


def export_record_attribute_check() -> None:
    """The export's writable attributes must exist on the record model and exclude personal ones."""
    attributes = set(RecordModel.get_attributes())
    unknown = set(EXPORT_WRITABLE_ATTRIBUTES) - attributes
    if unknown:
        raise ValueError(f"EXPORT_WRITABLE_ATTRIBUTES names unknown record attributes: {sorted(unknown)}")
    unknown = set(PURGE_WRITABLE_ATTRIBUTES) - attributes
    if unknown:
        raise ValueError(f"PURGE_WRITABLE_ATTRIBUTES names unknown record attributes: {sorted(unknown)}")
    if set(EXPORT_WRITABLE_ATTRIBUTES) & set(PERSONAL_ATTRIBUTES):
        raise ValueError("the export may never write a personal attribute")
