"""The DynamoDB tables, generated from the PynamoDB models exactly as the local stack creates them."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.models import ALL_MODELS, TABLE_SETTINGS
from chalicelib.config import Settings
from infra.template.base import arn, sub, tags


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


def table(model: type[Model], stage: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "TableName": table_name(model, stage),
        "BillingMode": "PAY_PER_REQUEST",
        **table_schema(model),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "DeletionProtectionEnabled": True,
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn("StorageKey")},
        "Tags": tags(stage),
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


def tables(stage: str) -> dict[str, Any]:
    return {table_logical_id(model): table(model, stage) for model in ALL_MODELS}


# The tables' ARNs as the policies name them (roles.py, operators.py), by Settings field.


def table_arns(setting: str) -> list[Any]:
    model = next(m for m, s in TABLE_SETTINGS.items() if s == setting)
    logical = table_logical_id(model)
    return [arn(logical), sub(f"${{{logical}.Arn}}/index/*")]


def stream_arn(setting: str) -> dict[str, list[str]]:
    model = next(m for m, s in TABLE_SETTINGS.items() if s == setting)
    return {"Fn::GetAtt": [table_logical_id(model), "StreamArn"]}
