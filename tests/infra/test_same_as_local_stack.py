"""The template's tables and pool are what the local stack provisions (moto), from the same sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.models import ALL_MODELS
from infra.template import Function, merge_template, table_logical_id


def _template() -> dict[str, Any]:
    return merge_template(
        [Function("api_handler", "APIHandler"), Function("export_to_sidep", "ExportToSidep")], "eu-west-3"
    )


def _indexes(entries: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, Any, Any]]:
    return sorted(
        (
            i["IndexName"],
            sorted((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
            i["Projection"]["ProjectionType"],
        )
        for i in entries or []
    )


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_template_table_equals_the_local_stack_table(aws: dict[str, str], model: Any) -> None:
    props = _template()["Resources"][table_logical_id(model)]["Properties"]
    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName=model.Meta.table_name)["Table"]
    assert sorted(map(tuple, (d.items() for d in props["AttributeDefinitions"]))) == sorted(
        map(tuple, (d.items() for d in table["AttributeDefinitions"]))
    )
    assert props["KeySchema"] == table["KeySchema"]
    assert _indexes(props.get("GlobalSecondaryIndexes")) == _indexes(table.get("GlobalSecondaryIndexes"))
    assert _indexes(props.get("LocalSecondaryIndexes")) == _indexes(table.get("LocalSecondaryIndexes"))
    assert table["BillingModeSummary"]["BillingMode"] == props["BillingMode"]
    ttl = ddb.describe_time_to_live(TableName=model.Meta.table_name)["TimeToLiveDescription"]
    if "TimeToLiveSpecification" in props:
        assert ttl["TimeToLiveStatus"] == "ENABLED"
        assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
    else:
        assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_template_pool_equals_the_local_stack_pool(aws: dict[str, str]) -> None:
    resources = _template()["Resources"]
    pool_props = resources["UserPool"]["Properties"]
    cognito = boto3.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=aws["USER_POOL_ID"])["UserPool"]
    assert pool["Policies"]["PasswordPolicy"] == pool_props["Policies"]["PasswordPolicy"]
    assert pool["MfaConfiguration"] == pool_props["MfaConfiguration"]
    assert (
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]
        is (pool_props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"])
    )
    assert pool["AutoVerifiedAttributes"] == pool_props["AutoVerifiedAttributes"]
    assert pool["AccountRecoverySetting"] == pool_props["AccountRecoverySetting"]
    mfa = cognito.get_user_pool_mfa_config(UserPoolId=aws["USER_POOL_ID"])
    assert mfa["SoftwareTokenMfaConfiguration"]["Enabled"] is (
        "SOFTWARE_TOKEN_MFA" in pool_props["EnabledMfas"]
    )
    client_props = resources["UserPoolClient"]["Properties"]
    client = cognito.describe_user_pool_client(
        UserPoolId=aws["USER_POOL_ID"], ClientId=aws["APP_CLIENT_IDS"]
    )["UserPoolClient"]
    for key in (
        "ExplicitAuthFlows",
        "AccessTokenValidity",
        "IdTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
        "PreventUserExistenceErrors",
    ):
        assert client[key] == client_props[key], key
    assert "ClientSecret" not in client and client_props["GenerateSecret"] is False
