"""The function that ends the sessions Cognito ends (CloudTrail via EventBridge): what its rule
matches and what its role may do, no more than its code does."""

from __future__ import annotations

import json
from typing import Any

from infra.template import Function, merge_template

FUNCTIONS = [
    Function("api_handler", "APIHandler"),
    Function("end_cognito_sessions", "EndCognitoSessions"),
]


def _resources() -> dict[str, Any]:
    return dict(merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"])


def _statements() -> list[dict[str, Any]]:
    return list(_resources()["EndCognitoSessionsPolicy"]["Properties"]["PolicyDocument"]["Statement"])


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_the_rule_is_cloudtrails_record_of_cognitos_session_ending_calls() -> None:
    from chalice.app import CloudWatchEventConfig

    from app import app

    (source,) = [s for s in app.event_sources if s.name == "end_cognito_sessions"]
    assert isinstance(source, CloudWatchEventConfig)
    assert source.event_pattern == {
        "source": ["aws.cognito-idp"],  # only AWS sends aws.*: a detail put on the bus by anyone is not it
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["cognito-idp.amazonaws.com"],
            "eventName": [
                "AdminDisableUser",
                "AdminDeleteUser",
                "AdminUserGlobalSignOut",
                "GlobalSignOut",
                "DeleteUser",
            ],
        },
    }


def test_it_writes_only_the_memberships_tokens_not_before() -> None:
    writes = [
        s
        for s in _statements()
        if s["Effect"] == "Allow"
        and any(a in _actions(s) for a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"))
    ]
    members = [s for s in writes if "MembersTable" in json.dumps(s["Resource"])]
    assert [_actions(s) for s in members] == [["dynamodb:UpdateItem"]]
    assert members[0]["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["username", "tokens_not_before"]}
    }
    # and otherwise only appends to the journal (never updates or deletes it)
    others = [s for s in writes if s not in members]
    assert others and all("AuditTable" in json.dumps(s["Resource"]) for s in others)
    assert all(
        "dynamodb:UpdateItem" not in _actions(s) and "dynamodb:DeleteItem" not in _actions(s) for s in others
    )


def test_it_may_look_users_up_but_never_administer_them_nor_use_a_key() -> None:
    cognito = [a for s in _statements() for a in _actions(s) if a.startswith("cognito-idp:")]
    assert cognito == ["cognito-idp:ListUsers"]
    assert not [a for s in _statements() for a in _actions(s) if a.startswith(("kms:", "secretsmanager:"))]
    resources = _resources()
    for key in ("DataKey", "BlindIndexKey", "AuditKey", "SessionKey"):
        policy = resources[key]["Properties"]["KeyPolicy"]["Statement"]
        (own,) = [s for s in policy if s.get("Sid", "").startswith("EndCognitoSessions")]
        assert (own["Sid"], own["Effect"], own["Action"]) == ("EndCognitoSessionsNeverUses", "Deny", "kms:*")


def test_a_failed_event_is_dead_lettered_and_alarms() -> None:
    resources = _resources()
    function = resources["EndCognitoSessions"]["Properties"]
    assert function["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    }
    alarm = resources["EndCognitoSessionsErrorsAlarm"]["Properties"]
    assert alarm["MetricName"] == "Errors" and alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
