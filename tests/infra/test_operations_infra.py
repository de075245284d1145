"""What operators get from the template: the outputs the commands read, the dashboard, the
operator role with exactly what the commands need (and explicitly nothing of a patient's)."""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS
from infra.template import (
    FUNCTION_ROLES,
    JOURNAL_APPEND_FAILURE_PATTERN,
    OPERATOR_INVOKES,
    OPERATOR_OUTPUTS,
    PERSONAL_ATTRIBUTES,
    Function,
    merge_template,
)

FUNCTIONS = [
    Function("api_handler", "APIHandler"),
    Function("export_to_sidep", "ExportToSidep"),
    Function("purge_expired", "PurgeExpired"),
    Function("redrive_dead_letters", "RedriveDeadLetters"),
    Function("checkpoint_audit", "CheckpointAudit"),
]
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _template() -> dict[str, Any]:
    return merge_template(FUNCTIONS, "eu-west-3", "prod")


def _operator_statements() -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = _template()["Resources"]["OperatorPolicy"]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allowed(action: str, resource_id: str) -> list[dict[str, Any]]:
    return [
        s
        for s in _operator_statements()
        if s["Effect"] == "Allow"
        and any(a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in _as_list(s["Action"]))
        and resource_id in json.dumps(s["Resource"])
    ]


def _denied(action: str, resource_id: str) -> bool:
    return any(
        s["Effect"] == "Deny"
        and any(a == action or a == "kms:*" for a in _as_list(s["Action"]))
        and resource_id in json.dumps(s["Resource"])
        for s in _operator_statements()
    )


def test_the_outputs_give_every_setting_the_operator_commands_read() -> None:
    from chalicelib.config import load_settings

    outputs = _template()["Outputs"]
    assert set(OPERATOR_OUTPUTS) | set(OPERATOR_INVOKES) | {"DeadLetterQueueUrl", "OperatorRoleArn"} <= set(
        outputs
    )
    # every table's name and every key comes from an output, none from a default
    env = {var: f"from-{key}" for key, var in OPERATOR_OUTPUTS.items()}
    settings = load_settings(env)
    for setting in TABLE_SETTINGS.values():
        assert getattr(settings, setting).startswith("from-"), setting
    assert settings.audit_key_id.startswith("from-") and settings.data_key_id.startswith("from-")
    assert outputs["ExportFunctionName"]["Value"] == {"Ref": "ExportToSidep"}


def test_the_operator_verifies_checkpoints_but_can_never_forge_one() -> None:
    # checkpoints are signatures checked with the public key alone
    assert _allowed("kms:GetPublicKey", "AuditKey")
    assert not _allowed("kms:Sign", "AuditKey")
    assert _denied("kms:Sign", "AuditKey")


def test_the_operator_can_never_read_a_patient() -> None:
    for key in ("DataKey", "BlindIndexKey"):
        assert not _allowed("kms:Decrypt", key) and _denied("kms:Decrypt", key), key
        assert _denied("kms:GenerateMac", key), key


def test_the_operator_can_never_write_the_journal() -> None:
    for table in ("AuditTable", "AuditCheckpointsTable"):
        for action in (
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        ):
            assert not _allowed(action, table), (action, table)
            assert _denied(action, table), (action, table)
        assert _allowed("dynamodb:Query", table) and _allowed("dynamodb:Scan", table)


def test_the_operator_writes_no_record_and_redrives_through_the_export_role() -> None:
    # review 1, finding 2: with UpdateItem an operator could clear "already sent" or TTL-delete
    for action in (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ):
        assert not _allowed(action, "RecordsTable") and _denied(action, "RecordsTable"), action
    personal = [
        s for s in _operator_statements() if s["Effect"] == "Deny" and "RecordsTable" in json.dumps(s)
    ]
    assert any(
        set(PERSONAL_ATTRIBUTES) <= set(json.dumps(s["Condition"]).split('"'))
        for s in personal
        if "Condition" in s
    )
    invokes = _allowed("lambda:InvokeFunction", "RedriveDeadLetters")
    assert invokes, "the operator redrives by invoking the redrive function"
    assert FUNCTION_ROLES["redrive_dead_letters"] == "export"


def test_the_operator_runs_the_export_and_purge_with_their_own_roles_only() -> None:
    invokes = _allowed("lambda:InvokeFunction", "")
    resources = json.dumps([s["Resource"] for s in invokes])
    assert "ExportToSidep" in resources and "PurgeExpired" in resources
    assert "APIHandler" not in resources and "CheckpointAudit" not in resources
    assert not any(s["Action"] == "*" or s["Action"] == ["*"] for s in _operator_statements())


def test_the_operator_role_needs_mfa_and_this_account() -> None:
    trust = _template()["Resources"]["OperatorRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert all(s["Condition"]["Bool"]["aws:MultiFactorAuthPresent"] == "true" for s in trust)
    assert all(":root" in json.dumps(s["Principal"]) for s in trust)


def _dashboard() -> tuple[dict[str, Any], dict[str, Any]]:
    resources = _template()["Resources"]
    body_text = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(body_text), resources


def test_the_dashboard_shows_what_an_operator_opens_first() -> None:
    body, _ = _dashboard()
    metrics = {m[1] for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]}
    for metric in (
        "ExportSent",
        "ExportAcknowledged",
        "ExportOldestReadyAgeSeconds",
        "ExportFailed",
        "ApproximateNumberOfMessagesVisible",
        "ExportRejected",
        "AuthFailures",
        "4XXError",
        "5XXError",
        "Latency",
        "JournalAppendFailures",
    ):
        assert metric in metrics, metric
    alarms = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    assert "${RetentionUnacknowledgedNearCapAlarm.Arn}" in alarms


def test_every_name_the_dashboard_substitutes_is_a_resource_of_the_template() -> None:
    body, resources = _dashboard()
    names = set(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", json.dumps(body)))
    assert names - {"AWS"} <= set(resources), names - set(resources)


def test_every_depistage_metric_on_the_dashboard_is_published() -> None:
    body, resources = _dashboard()
    published = json.dumps(resources)
    sources = "".join(p.read_text() for p in (ROOT / "chalicelib").rglob("*.py"))
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if metric[0] == "Depistage":
                assert f'"{metric[1]}"' in sources or f'"MetricName": "{metric[1]}"' in published, metric[1]


def test_journal_failures_are_counted_from_the_journal_s_own_log_lines() -> None:
    # the writer (journal.py) and its one failure rule (audit_items.journal_unavailable)
    adapters = ROOT / "chalicelib" / "adapters" / "dynamodb"
    journal = "".join((adapters / name).read_text() for name in ("journal.py", "audit_items.py"))
    for message in re.findall(r'message = "([^"]+)"', JOURNAL_APPEND_FAILURE_PATTERN):
        assert f'"{message}"' in journal, message
    filters = [r for r in _template()["Resources"].values() if r.get("Type") == "AWS::Logs::MetricFilter"]
    assert sum(f["Properties"]["FilterPattern"] == JOURNAL_APPEND_FAILURE_PATTERN for f in filters) == len(
        FUNCTIONS
    )
