"""What the operator role and each function role may do to a record with their own rights: no more
than their code does (IAM cannot tell a SET from a REMOVE, and SET expires_at is a TTL delete)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.template import Function, merge_template

FUNCTIONS = [
    Function("api_handler", "APIHandler"),
    Function("export_to_sidep", "ExportToSidep"),
    Function("purge_expired", "PurgeExpired"),
    Function("redrive_dead_letters", "RedriveDeadLetters"),
    Function("checkpoint_audit", "CheckpointAudit"),
]


def _statements(policy: str) -> list[dict[str, Any]]:
    resources = merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"]
    return list(resources[policy]["Properties"]["PolicyDocument"]["Statement"])


def _record_updates(policy: str) -> set[str]:
    allowed: set[str] = set()
    for s in _statements(policy):
        if (
            s["Effect"] == "Allow"
            and "dynamodb:UpdateItem" in s["Action"]
            and "RecordsTable" in json.dumps(s)
        ):
            allowed |= set(s["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"])
    return allowed


@pytest.mark.parametrize(
    ("policy", "never"),
    [
        # the re-drive writes none of these; REMOVE first_sent_at names it as a SET does
        ("OperatorPolicy", {"expires_at", "first_sent_at", "erase_day", "version", "updated_at"}),
        # nothing in adapters/dynamodb/export_queue.py writes expires_at or updated_at
        ("ExportToSidepPolicy", {"expires_at", "updated_at"}),
    ],
)
def test_a_role_may_write_only_the_record_attributes_its_code_writes(policy: str, never: set[str]) -> None:
    # UpdateItem `SET expires_at = :past` makes DynamoDB TTL delete the item: DeleteItem in disguise.
    assert not never & _record_updates(policy), sorted(never & _record_updates(policy))


def test_the_operator_reads_the_records_table_only_through_its_delivery_attributes() -> None:
    reads = [
        s
        for s in _statements("OperatorPolicy")
        if s["Effect"] == "Allow" and "dynamodb:Scan" in s["Action"] and "RecordsTable" in json.dumps(s)
    ]
    assert reads
    for s in reads:  # else a Scan returns `result`, `nir_index`, `personal` of every pharmacy
        assert "dynamodb:Attributes" in json.dumps(s.get("Condition", {})), s


def test_no_function_may_delete_a_record_since_no_code_path_does() -> None:
    # DynamoDbRecordRepository.delete has no caller; a record SI-DEP may hold is never deleted
    for s in _statements("APIHandlerPolicy"):
        if s["Effect"] == "Allow" and "RecordsTable" in json.dumps(s["Resource"]):
            assert "dynamodb:DeleteItem" not in s["Action"], s["Sid"]


def test_the_purge_may_not_touch_the_already_sent_fact() -> None:
    # its erasure (adapters/dynamodb/retention.py _erasure_actions) never names first_sent_at
    updates = [
        s
        for s in _statements("PurgeExpiredPolicy")
        if s["Effect"] == "Allow" and "dynamodb:UpdateItem" in s["Action"] and "RecordsTable" in json.dumps(s)
    ]
    assert updates
    denied = [
        s
        for s in _statements("PurgeExpiredPolicy")
        if s["Effect"] == "Deny" and "first_sent_at" in json.dumps(s.get("Condition", {}))
    ]
    restricted = all("Condition" in s and "first_sent_at" not in json.dumps(s["Condition"]) for s in updates)
    assert denied or restricted, updates


def _all_statements() -> list[tuple[str, dict[str, Any]]]:
    resources = merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"]
    return [
        (name, s)
        for name, resource in resources.items()
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for s in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_no_role_may_update_or_delete_a_sent_marker_and_only_the_export_may_create_one() -> None:
    # "already sent" write-once (adapters/dynamodb/sent_markers.py): the export, which must set it,
    # may only create markers; an UpdateItem could REMOVE their fact, a DeleteItem or a BatchWriteItem
    # (a DeleteRequest) drop them, and nobody else writes them at all
    takes_back = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"}
    creators = set()
    for policy, s in _all_statements():
        if s["Effect"] != "Allow" or "SentMarkersTable" not in json.dumps(s.get("Resource")):
            continue
        assert not _actions(s) & takes_back, (policy, s["Sid"])
        if "dynamodb:PutItem" in _actions(s):
            creators.add(policy)
    # the export's one role (export_to_sidep, its shard consumer, its trigger, the redrive)
    assert creators == {"ExportToSidepPolicy", "RedriveDeadLettersPolicy"}


def test_a_sent_marker_never_expires_since_its_creator_could_backdate_it() -> None:
    resources = merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"]
    assert "TimeToLiveSpecification" not in resources["SentMarkersTable"]["Properties"]
