"""Each function's IAM role and least-privilege policy, generated from the declarations in access.py."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.models import MemberModel
from infra.template.access import (
    ALERT_ACKNOWLEDGEMENT,
    ALERT_RAISE,
    ALERT_RAISE_ATTRIBUTES,
    ALERT_RAISING_FUNCTIONS,
    DYNAMODB_WRITES,
    EXPORT_WRITABLE_ATTRIBUTES,
    KEY_USE,
    PERSONAL_ATTRIBUTES,
    PURGE_WRITABLE_ATTRIBUTES,
    ROLE_TABLES,
    STREAM_READ,
)
from infra.template.base import arn, sub, tags
from infra.template.export import SIDEP_FUNCTIONS, sidep_tls_statements
from infra.template.functions import ASYNC_ROLES, MAPPED_FUNCTIONS, STREAM_FUNCTIONS, Function
from infra.template.identity import COGNITO_ADMIN_ACTIONS
from infra.template.imports import import_statements
from infra.template.journal import WORM_WRITE
from infra.template.tables import stream_arn, table_arns


def _export_record_statements() -> list[dict[str, Any]]:
    # DynamoDB fine-grained access control: an UpdateItem naming any attribute outside the list
    # is refused, and one naming a personal attribute is denied outright (explicit deny wins).
    records = table_arns("records_table")
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
            "Resource": table_arns("records_table"),
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
                "Resource": arn("ExportFanoutQueue"),
            }
        ]
    if fn.name == "export_shard":
        return [
            {
                "Sid": "ConsumeFanOut",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": arn("ExportFanoutQueue"),
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
            "Resource": table_arns("members_table"),
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": member_session_attributes()}},
        },
        {
            # a user's own sign-out names them by `sub` only (chalicelib/services/identity_events.py)
            "Sid": "FindAUserBySub",
            "Effect": "Allow",
            "Action": ["cognito-idp:ListUsers"],
            "Resource": arn("UserPool"),
        },
    ]


def role_policy_document(fn: Function) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": sub(
                f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}"
                f":log-group:/aws/lambda/${{AWS::StackName}}-{fn.name}:*"
            ),
        },
        *_table_statements(fn.role),
        *_role_write_statements(fn),
        *_source_statements(fn),
        *_worm_statements(fn.role),
        *_key_statements(fn.role),
        *alert_statements(fn),
        *(_api_statements() if fn.role == "api" else []),
        *import_statements(fn),
    ]
    if fn.role in ASYNC_ROLES or fn.name in MAPPED_FUNCTIONS:
        statements.append(
            {
                "Sid": "DeadLetters",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": arn("DeadLetterQueue"),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _table_statements(role: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "Table" + "".join(p.capitalize() for p in setting.split("_")),
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": table_arns(setting),
        }
        for setting, actions in ROLE_TABLES[role].items()
    ]


def _role_write_statements(fn: Function) -> list[dict[str, Any]]:
    """The writes a role may make only on some attributes (fine-grained access control)."""
    if fn.role == "export":
        return [*_export_record_statements(), *_export_event_statements(fn)]
    if fn.role == "purge":
        return _purge_record_statements()
    if fn.role == "sessions":
        return _session_statements()
    return []


def _source_statements(fn: Function) -> list[dict[str, Any]]:
    """What a function reads its input or its credentials from: SI-DEP's certificate, a stream."""
    statements = sidep_tls_statements() if fn.name in SIDEP_FUNCTIONS else []
    if fn.name in STREAM_FUNCTIONS:
        statements.append(
            {
                "Sid": "ReadItsStream",
                "Effect": "Allow",
                "Action": list(STREAM_READ),
                "Resource": stream_arn(STREAM_FUNCTIONS[fn.name]),
            }
        )
    return statements


def _worm_statements(role: str) -> list[dict[str, Any]]:
    if role == "worm":
        return [
            {
                "Sid": "AddToTheWormCopy",
                "Effect": "Allow",
                "Action": list(WORM_WRITE),
                "Resource": sub("${AuditWormBucket.Arn}/audit/*"),
            }
        ]
    if role == "audit":
        return [
            {
                # The signer sets a malformed item aside there (chalicelib/adapters/worm.py), add-only.
                "Sid": "SetMalformedItemsAside",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": sub("${AuditWormBucket.Arn}/audit/quarantine/checkpoint/*"),
            }
        ]
    return []


def alert_statements(fn: Function) -> list[dict[str, Any]]:
    """The alerts table's writes: the API acknowledges (those attributes only), the review's
    function raises (a put in the journal's transaction); no one else writes an alert."""
    alerts = table_arns("alerts_table")
    if fn.name in ALERT_RAISING_FUNCTIONS:
        return [
            {
                "Sid": "RaiseAlerts",
                "Effect": "Allow",
                "Action": list(ALERT_RAISE),
                "Resource": alerts,
                "Condition": {
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(ALERT_RAISE_ATTRIBUTES)}
                },
            }
        ]
    if fn.role == "api":
        return [
            {
                "Sid": "AcknowledgeAlertsOnly",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": alerts,
                "Condition": {
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(ALERT_ACKNOWLEDGEMENT)}
                },
            }
        ]
    return []


def _key_statements(role: str) -> list[dict[str, Any]]:
    return [
        {"Sid": f"Use{key_id}", "Effect": "Allow", "Action": list(actions), "Resource": arn(key_id)}
        for key_id, actions in KEY_USE[role].items()
    ]


def _api_statements() -> list[dict[str, Any]]:
    return [
        {
            # The platform's one-time mark of a pharmacy's first admin (adapters/dynamodb/directory.py).
            "Sid": "PharmacyFirstAdminMarkOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arns("pharmacies_table"),
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["finess", "first_admin"]}},
        },
        {
            # A pharmacy's settings (adapters/dynamodb/directory.py set_psc_required_change,
            # set_opening_hours_change): those attributes and when and by whom they changed, only.
            "Sid": "PharmacySettingsOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arns("pharmacies_table"),
            "Condition": {
                "ForAllValues:StringEquals": {
                    "dynamodb:Attributes": [
                        "finess",
                        "psc_required",
                        "opening_hours",
                        "settings_changed_at",
                        "settings_changed_by",
                    ]
                }
            },
        },
        {
            "Sid": "InviteAndRevokeMembers",
            "Effect": "Allow",
            "Action": list(COGNITO_ADMIN_ACTIONS),
            "Resource": arn("UserPool"),
        },
        {
            "Sid": "ReadThePscClientSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": {"Ref": "PscClientSecret"},
        },
        {
            "Sid": "ReadTheDirectoryApiKey",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": {"Ref": "PscDirectoryApiKey"},
        },
    ]


def roles(functions: list[Function], stage: str) -> dict[str, Any]:
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
                "Tags": tags(stage),
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
