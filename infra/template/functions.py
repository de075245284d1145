"""The Lambda functions Chalice emits: the role each runs with, their settings (environment),
their event sources (streams, the fan-out queue), dead letters, concurrency and log groups.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS
from chalicelib.config import env_name
from infra.template.base import arn, log_group, skip
from infra.template.export import SIDEP_FUNCTIONS, SIDEP_TLS_SECRET
from infra.template.tables import stream_arn, table_logical_id

# Chalice function name -> the role it runs with (its rights: access.py ROLE_TABLES and KEY_USE).
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
    # the journal's automatic review, the audit stream's second consumer (chalicelib/services/review.py)
    "review_access": "review",
    # Cognito's session-ending calls, from CloudTrail via EventBridge (chalicelib/api/identity_events.py)
    "end_cognito_sessions": "sessions",
}
# Stream handlers: function -> the Settings field of the table whose stream feeds it.
STREAM_FUNCTIONS: dict[str, str] = {
    "audit_to_worm": "audit_table",
    "export_on_change": "records_table",
    "review_access": "audit_table",
}
# Invoked by an event source mapping (stream, SQS), which retries and dead-letters: no async DLQ.
MAPPED_FUNCTIONS = frozenset({"export_shard", "export_on_change"})
# Functions invoked asynchronously (schedules, EventBridge rules): failed events go to the
# dead-letter queue.
ASYNC_ROLES = frozenset({"export", "purge", "audit", "sessions"})

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
                f"function {self.name!r} has no IAM role: map it in FUNCTION_ROLES "
                "(infra/template/functions.py, with the least privilege it needs) before packaging"
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


def function_environment(fn: Function, stage: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        env_name("stage"): stage,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray SDK in the package
        env_name("data_key_id"): arn("DataKey"),
        env_name("blind_index_key_id"): arn("BlindIndexKey"),
        env_name("audit_key_id"): arn("AuditKey"),
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
                env_name("session_key_id"): arn("SessionKey"),
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


def function_overrides(fn: Function, stage: str) -> dict[str, Any]:
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
        "Role": arn(fn.role_id),
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
                    "Stream": stream_arn(STREAM_FUNCTIONS[fn.name]),
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
        props["DeadLetterQueue"] = {"Type": "SQS", "TargetArn": arn("DeadLetterQueue")}
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
        "Metadata": skip(*skips),
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


def function_resources(functions: list[Function], stage: str) -> dict[str, Any]:
    """Each function's log group and what the template adds to the function Chalice emits."""
    resources: dict[str, Any] = {}
    for fn in functions:
        resources[fn.log_group_id] = log_group(fn.log_group_name(), stage)
        resources[fn.logical_id] = function_overrides(fn, stage)
    return resources
