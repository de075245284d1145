"""The merge template generated from the sources of truth (pure: no packaging, no AWS)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import GlobalSecondaryIndex, LocalSecondaryIndex

from chalicelib.adapters.cognito_pool import app_client_settings, user_pool_settings
from chalicelib.adapters.dynamodb.models import ALL_MODELS, TABLE_SETTINGS, RecordModel
from chalicelib.config import HDS_REGIONS, Settings
from infra.template import (
    EXPORT_WRITABLE_ATTRIBUTES,
    PERSONAL_ATTRIBUTES,
    Function,
    RegionNotAllowedError,
    check_region,
    merge_template,
    table_logical_id,
)

API = Function("api_handler", "APIHandler")
EXPORT = Function("export_to_sidep", "ExportToSidep")
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _template() -> dict[str, Any]:
    return merge_template([API, EXPORT], "eu-west-3", "prod")


def _expected_table(model: Any) -> dict[str, Any]:
    """A model's schema read through PynamoDB's public attribute API (not the generator's path)."""
    attrs = model.get_attributes()
    definitions: dict[str, str] = {}

    def keys(hash_name: str, range_name: str | None) -> list[dict[str, str]]:
        out = [{"AttributeName": hash_name, "KeyType": "HASH"}]
        if range_name:
            out.append({"AttributeName": range_name, "KeyType": "RANGE"})
        return out

    def key_names(attributes: dict[str, Any]) -> tuple[str, str | None]:
        hash_name = next(a.attr_name for a in attributes.values() if a.is_hash_key)
        range_name = next((a.attr_name for a in attributes.values() if a.is_range_key), None)
        for a in attributes.values():
            if a.is_hash_key or a.is_range_key:
                definitions[a.attr_name] = a.attr_type
        return hash_name, range_name

    table: dict[str, Any] = {"KeySchema": keys(*key_names(attrs))}
    gsis: list[dict[str, Any]] = []
    lsis: list[dict[str, Any]] = []
    for value in vars(model).values():
        if isinstance(value, (GlobalSecondaryIndex, LocalSecondaryIndex)):
            index_attrs = {n: a for n, a in vars(type(value)).items() if hasattr(a, "is_hash_key")}
            entry = {
                "IndexName": value.Meta.index_name,
                "KeySchema": keys(*key_names(index_attrs)),
                "Projection": {"ProjectionType": value.Meta.projection.projection_type},
            }
            (gsis if isinstance(value, GlobalSecondaryIndex) else lsis).append(entry)
    table["AttributeDefinitions"] = [
        {"AttributeName": n, "AttributeType": t} for n, t in sorted(definitions.items())
    ]
    if gsis:
        table["GlobalSecondaryIndexes"] = sorted(gsis, key=lambda i: i["IndexName"])
    if lsis:
        table["LocalSecondaryIndexes"] = sorted(lsis, key=lambda i: i["IndexName"])
    ttl = [a.attr_name for a in attrs.values() if isinstance(a, TTLAttribute)]
    table["TTL"] = ttl[0] if ttl else None
    return table


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_table_schema_equals_the_pynamodb_model(model: Any) -> None:
    props = _template()["Resources"][table_logical_id(model)]["Properties"]
    expected = _expected_table(model)
    for key in ("KeySchema", "AttributeDefinitions"):
        assert props[key] == expected[key]
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        assert props.get(key) == expected.get(key)
    assert props.get("TimeToLiveSpecification", {}).get("AttributeName") == expected["TTL"]
    if expected["TTL"]:
        assert props["TimeToLiveSpecification"]["Enabled"] is True
    # named after the Settings default, suffixed by the stage
    assert props["TableName"] == f"{getattr(Settings, TABLE_SETTINGS[model])}-prod"


def test_pool_and_client_are_the_local_stack_settings() -> None:
    resources = _template()["Resources"]
    pool = dict(resources["UserPool"]["Properties"])
    expected = user_pool_settings("depistage-prod")
    assert pool.pop("UserPoolName") == expected.pop("PoolName")
    assert pool == expected
    client = dict(resources["UserPoolClient"]["Properties"])
    assert client.pop("UserPoolId") == {"Ref": "UserPool"}
    assert client == app_client_settings("depistage-prod-mobile")


def test_region_rule_asserts_the_hds_allow_list() -> None:
    rule = _template()["Rules"]["HdsRegionOnly"]["Assertions"][0]
    assert rule["Assert"] == {"Fn::Contains": [list(HDS_REGIONS), {"Ref": "AWS::Region"}]}
    assert all(region in rule["AssertDescription"] for region in HDS_REGIONS)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "eu-central-2", ""])
def test_non_hds_region_is_refused(region: str) -> None:
    with pytest.raises(RegionNotAllowedError, match="eu-west-3"):
        merge_template([API], region)
    with pytest.raises(RegionNotAllowedError):
        check_region(region)


@pytest.mark.parametrize("region", HDS_REGIONS)
def test_every_hds_region_is_accepted(region: str) -> None:
    assert _template()["Rules"] and merge_template([API], region)["Metadata"]["depistage"]["region"] == region


def test_build_cli_refuses_a_non_hds_region_with_the_allowed_list() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.build", "--region", "us-east-1", "--out", "/nonexistent/never"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "us-east-1" in result.stderr
    assert all(region in result.stderr for region in HDS_REGIONS)


def test_a_function_without_a_role_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="FUNCTION_ROLES"):
        merge_template([API, Function("mystery", "Mystery")], "eu-west-3")


def test_export_writable_attributes_are_record_attributes_and_not_personal() -> None:
    attributes = set(RecordModel.get_attributes())
    assert set(EXPORT_WRITABLE_ATTRIBUTES) <= attributes
    assert set(PERSONAL_ATTRIBUTES) <= attributes
    assert not set(EXPORT_WRITABLE_ATTRIBUTES) & set(PERSONAL_ATTRIBUTES)


def test_gateway_errors_are_problem_json_and_echo_nothing() -> None:
    from infra.template import GATEWAY_RESPONSES
    from infra.template.api import rest_api

    resources = rest_api("v1", "prod")
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources.values()
        if r.get("Type") == "AWS::ApiGateway::GatewayResponse"
    }
    assert set(responses) == {kind for kind, _, _ in GATEWAY_RESPONSES}
    for props in responses.values():
        assert (
            props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        )
        template = props["ResponseTemplates"]["application/json"]
        assert "$context" not in template and "$input" not in template  # nothing of the request


def test_the_sidep_certificate_secret_is_created_empty_and_only_the_export_reads_it() -> None:
    resources = _template()["Resources"]
    secret = resources["SidepTlsSecret"]
    props = secret["Properties"]
    # the value is the operator's (docs/deployment.md): never in the template, never generated
    assert "SecretString" not in props and "GenerateSecretString" not in props
    assert props["KmsKeyId"] == {"Ref": "SidepTlsKey"}
    assert secret["DeletionPolicy"] == "Retain"
    export_env = resources["ExportToSidep"]["Properties"]["Environment"]["Variables"]
    assert export_env["SIDEP_TLS_SECRET_ID"] == {"Ref": "SidepTlsSecret"}
    assert "SIDEP_TLS_SECRET_ID" not in resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    reads = {
        name.removesuffix("Policy")
        for name, r in resources.items()
        if r.get("Type") == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in s["Action"] and s["Resource"] == {"Ref": "SidepTlsSecret"}
    }
    assert reads == {"ExportToSidep"}
    key = resources["SidepTlsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow" and s["Sid"] != "AccountAdministers"]
    assert allow["Principal"] == {"AWS": {"Fn::GetAtt": ["ExportToSidepRole", "Arn"]}}
    assert allow["Action"] == ["kms:Decrypt"]
    assert allow["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }
    api_deny = next(s for s in statements if s["Sid"] == "APIHandlerNeverUses")
    assert api_deny["Effect"] == "Deny" and api_deny["Action"] == "kms:*"
