"""The review's alerts table and who may do what with it, proved on the template (moto's IAM ignores
Resource and Condition): the API reads and acknowledges (those attributes only), the review's
function only creates, the operator only reads, no other function touches it; its items expire."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.dynamodb.alerts import DynamoDbAlerts
from chalicelib.adapters.dynamodb.models import AlertModel
from infra.template import Function, merge_template
from infra.template.access import ALERT_ACKNOWLEDGEMENT, ALERT_RAISE_ATTRIBUTES
from infra.template.roles import alert_statements

FUNCTIONS = [
    Function("api_handler", "APIHandler"),
    Function("export_to_sidep", "ExportToSidep"),
    Function("purge_expired", "PurgeExpired"),
    Function("redrive_dead_letters", "RedriveDeadLetters"),
    Function("checkpoint_audit", "CheckpointAudit"),
    Function("audit_to_worm", "AuditToWorm"),
    Function("end_cognito_sessions", "EndCognitoSessions"),
]
WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"]
    return resources


def _on_alerts(policy: str) -> list[dict[str, Any]]:
    statements = _resources()[policy]["Properties"]["PolicyDocument"]["Statement"]
    return [s for s in statements if "AlertsTable" in json.dumps(s.get("Resource"))]


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_the_alerts_table_expires_its_items_and_lists_them_by_time() -> None:
    props = _resources()["AlertsTable"]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert {i["IndexName"] for i in props["LocalSecondaryIndexes"]} == {"by_raised_at", "open"}
    assert "StreamSpecification" not in props


def test_the_api_reads_alerts_and_updates_only_their_acknowledgement() -> None:
    statements = _on_alerts("APIHandlerPolicy")
    allowed = set().union(*(_actions(s) for s in statements if s["Effect"] == "Allow"))
    assert "dynamodb:Query" in allowed and "dynamodb:GetItem" in allowed
    assert not allowed & {
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Scan",
    }
    [update] = [s for s in statements if "dynamodb:UpdateItem" in _actions(s)]
    assert update["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": list(ALERT_ACKNOWLEDGEMENT)}
    }
    # what the adapter's acknowledgement names, and nothing the review found (detector, records...)
    assert set(ALERT_ACKNOWLEDGEMENT) == {
        "finess",
        "alert_id",
        "acknowledged_at",
        "acknowledged_by",
        "open_since",
    }
    item, actions, _condition = DynamoDbAlerts._acknowledgement("750000010", "a-" + "0" * 24, "u", _now())
    named = {action.values[0].path[0] for action in actions} | {"finess", "alert_id"}
    assert named == set(ALERT_ACKNOWLEDGEMENT) and isinstance(item, AlertModel)


def test_the_review_function_may_only_create_alerts() -> None:
    [statement] = alert_statements(Function("review_access", "ReviewAccess"))
    assert statement["Effect"] == "Allow" and _actions(statement) == {"dynamodb:PutItem"}
    assert "AlertsTable" in json.dumps(statement["Resource"])
    review = Function("review_access", "ReviewAccess")
    resources = merge_template([*FUNCTIONS, review], "eu-west-3", "prod")["Resources"]
    statements = resources[review.policy_id]["Properties"]["PolicyDocument"]["Statement"]
    on_alerts = [s for s in statements if "AlertsTable" in json.dumps(s.get("Resource"))]
    assert [_actions(s) for s in on_alerts] == [{"dynamodb:PutItem"}]


def test_the_review_function_s_put_cannot_write_an_acknowledgement() -> None:
    from chalicelib.adapters.dynamodb.alerts import _item
    from chalicelib.domain.alerts import Alert

    [statement] = alert_statements(Function("review_access", "ReviewAccess"))
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": list(ALERT_RAISE_ATTRIBUTES)}
    }
    assert not {"acknowledged_at", "acknowledged_by"} & set(ALERT_RAISE_ATTRIBUTES)
    # what a raise puts (every attribute filled) is what the condition names, nothing left out
    raised = Alert("750000010", "bulk_reads", "pharmacist-a", _now(), _now(), 300, 100, ("r-1",))
    put = _item(raised, _now(), 365).serialize()
    assert set(put) == set(ALERT_RAISE_ATTRIBUTES)
    modelled = {a.attr_name for a in AlertModel.get_attributes().values()}
    assert set(ALERT_RAISE_ATTRIBUTES) == modelled - {"acknowledged_at", "acknowledged_by"}


def test_no_other_function_writes_or_reads_an_alert_and_the_operator_only_reads() -> None:
    for fn in FUNCTIONS[1:]:
        assert _on_alerts(fn.policy_id) == [], fn.name
    reads = _on_alerts("OperatorPolicy")
    assert reads and all(not _actions(s) & WRITES for s in reads if s["Effect"] == "Allow")


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 29, tzinfo=UTC)
