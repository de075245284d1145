"""The retention purge in the template: least privilege for its role, the erase-day index, the
near-cap alarm (pure: no packaging, no AWS)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.retention import ALARM_METRIC
from infra.template import EXPORT_WRITABLE_ATTRIBUTES, Function, merge_template

PURGE = Function("purge_expired", "PurgeExpired")
API = Function("api_handler", "APIHandler")


def _template() -> dict[str, Any]:
    return merge_template([API, PURGE], "eu-west-3", "prod")


def _statements(t: dict[str, Any]) -> list[dict[str, Any]]:
    return list(t["Resources"]["PurgeExpiredPolicy"]["Properties"]["PolicyDocument"]["Statement"])


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_the_purge_reads_and_updates_records_and_never_creates_deletes_or_decrypts() -> None:
    statements = _statements(_template())
    records = next(s for s in statements if s["Sid"] == "TableRecordsTable")
    assert {"dynamodb:Query", "dynamodb:BatchGetItem"} <= _actions(records)
    # its UpdateItem is a statement of its own, limited to the attributes the erasure names
    erasure = next(s for s in statements if s["Sid"] == "RecordsErasureOnly")
    assert _actions(erasure) == {"dynamodb:UpdateItem"}
    assert "dynamodb:Attributes" in erasure["Condition"]["ForAllValues:StringEquals"]
    for s in statements:
        if "RecordsTable" in str(s["Resource"]):
            assert not _actions(s) & {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    # its erase-day index is covered by the table's index ARNs
    assert {"Fn::Sub": "${RecordsTable.Arn}/index/*"} in records["Resource"]
    every = {a for s in statements for a in _actions(s)}
    assert not any(a.startswith("kms:") and a != "kms:GenerateMac" for a in every)
    assert not any("Idempotency" in str(s["Resource"]) for s in statements)


def test_the_records_table_has_the_sparse_erase_day_index() -> None:
    props = _template()["Resources"]["RecordsTable"]["Properties"]
    (index,) = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == "by_erase_day"]
    assert index["KeySchema"][0] == {"AttributeName": "erase_day", "KeyType": "HASH"}
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # no personal attribute copied
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_export_may_write_the_erase_day_an_acknowledgement_brings_forward() -> None:
    assert "erase_day" in EXPORT_WRITABLE_ATTRIBUTES


def test_the_near_cap_alarm_notifies_the_topic() -> None:
    alarm = _template()["Resources"]["RetentionUnacknowledgedNearCapAlarm"]["Properties"]
    assert alarm["MetricName"] == ALARM_METRIC and alarm["Namespace"] == "Depistage"
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "RetentionUnacknowledgedNearCapAlarm" not in merge_template([API], "eu-west-3")["Resources"]
