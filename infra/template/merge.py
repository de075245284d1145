"""The template itself: its parameters, the region rule, the resources of every family and the
outputs, assembled for `chalice package --merge-template`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.models import ALL_MODELS
from chalicelib.config import HDS_REGIONS, Settings
from infra.template.alarms import monitoring
from infra.template.api import rest_api, waf
from infra.template.base import DEFAULT_STAGE, arn, check_region
from infra.template.dashboard import dashboard
from infra.template.export import SIDEP_TLS_SECRET, sidep_tls_secret
from infra.template.functions import Function, function_resources
from infra.template.identity import DIRECTORY_URL, PSC_ENVIRONMENTS, cognito, psc_secrets
from infra.template.imports import imports_resources
from infra.template.journal import worm_bucket
from infra.template.keys import kms_keys
from infra.template.operators import OPERATOR_INVOKES, OPERATOR_OUTPUTS, operators
from infra.template.roles import roles
from infra.template.tables import table_logical_id, tables


def parameters() -> dict[str, Any]:
    return {
        "SidepUrl": {"Type": "String", "Default": "", "Description": "SI-DEP receiver URL (https)"},
        "AlarmEmail": {"Type": "String", "Default": "", "Description": "e-mail that receives the alarms"},
        "PscEnvironment": {
            "Type": "String",
            "Default": "bas",
            "AllowedValues": sorted(PSC_ENVIRONMENTS),
            "Description": "Pro Santé Connect environment: the sandbox (bas) or production",
        },
        "PscClientId": {
            "Type": "String",
            "Default": "",
            "Description": "our client id at Pro Santé Connect (its secret: the PscClientSecret secret)",
        },
        "PscDirectoryUrl": {
            "Type": "String",
            "Default": DIRECTORY_URL,
            "AllowedPattern": "^(https://.+)?$",
            "Description": "the national directory of health professionals (ANS Annuaire Santé FHIR API "
            "base URL) read at invitation with the PscDirectoryApiKey secret "
            "(chalicelib/adapters/psc_directory.py); empty: invitations by national identifier are 503",
        },
        "SidepMaxConcurrency": {
            "Type": "Number",
            "Default": Settings.sidep_max_concurrency,
            "MinValue": 2,
            "Description": "exporters sending to SI-DEP at once (per-shard fan-out consumers)",
        },
        "ApiThrottleRate": {"Type": "Number", "Default": 50, "MinValue": 1},
        "ApiThrottleBurst": {"Type": "Number", "Default": 100, "MinValue": 1},
        "WafRateLimit": {
            "Type": "Number",
            "Default": 1000,
            "MinValue": 100,
            "Description": "requests per 5 minutes per client IP",
        },
    }


def region_rule() -> dict[str, Any]:
    return {
        "HdsRegionOnly": {
            "Assertions": [
                {
                    "Assert": {"Fn::Contains": [list(HDS_REGIONS), {"Ref": "AWS::Region"}]},
                    "AssertDescription": (
                        "Health data may only be deployed to an HDS-certified EEA region: "
                        + ", ".join(HDS_REGIONS)
                    ),
                }
            ]
        }
    }


def outputs(functions: list[Function]) -> dict[str, Any]:
    """What the stack tells its operator: the operator commands' settings, the secrets to set, the
    functions they may run now."""
    values: dict[str, Any] = {
        "UserPoolId": {"Ref": "UserPool"},
        "AppClientId": {"Ref": "UserPoolClient"},
        "DataKeyArn": arn("DataKey"),
        "BlindIndexKeyArn": arn("BlindIndexKey"),
        "AuditKeyArn": arn("AuditKey"),
        "AuditWormBucket": {"Ref": "AuditWormBucket"},
        **{table_logical_id(model): {"Ref": table_logical_id(model)} for model in ALL_MODELS},
    }
    result = {
        "Region": {"Value": {"Ref": "AWS::Region"}},
        **{key: {"Value": values[key]} for key in OPERATOR_OUTPUTS},
        "SidepTlsSecretArn": {"Value": {"Ref": SIDEP_TLS_SECRET}},
        "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        "OperatorRoleArn": {"Value": arn("OperatorRole")},
        "DashboardName": {"Value": {"Ref": "Dashboard"}},
        "PscClientSecretArn": {"Value": {"Ref": "PscClientSecret"}},
        "PscDirectoryApiKeyArn": {"Value": {"Ref": "PscDirectoryApiKey"}},
    }
    for output, name in OPERATOR_INVOKES.items():
        for fn in functions:
            if fn.name == name:
                result[output] = {"Value": {"Ref": fn.logical_id}}
    return result


def merge_template(
    functions: list[Function], region: str, stage: str = DEFAULT_STAGE, api_stage_name: str = "v1"
) -> dict[str, Any]:
    """The template to pass to `chalice package --merge-template`."""
    check_region(region)
    for fn in functions:
        _ = fn.role  # fail early on a function without a role
    has_api = any(fn.name == "api_handler" for fn in functions)
    resources: dict[str, Any] = {
        **tables(stage),
        **kms_keys(functions, stage),
        **sidep_tls_secret(functions, stage),
        **roles(functions, stage),
        **worm_bucket(functions, stage),
        **imports_resources(functions, stage),
        **cognito(stage),
        **psc_secrets(stage),
        **function_resources(functions, stage),
        **(rest_api(api_stage_name, stage) if has_api else {}),
        **(waf(api_stage_name, stage) if has_api else {}),
        **monitoring(functions, api_stage_name),
        **operators(functions, stage),
        **dashboard(functions, api_stage_name),
    }
    return {
        "Description": f"depistage ({stage}): HDS deployment, region allow-list {', '.join(HDS_REGIONS)}",
        "Metadata": {"depistage": {"region": region, "stage": stage, "hds_regions": list(HDS_REGIONS)}},
        "Parameters": parameters(),
        "Mappings": {"PscEnvironments": PSC_ENVIRONMENTS},
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
        "Rules": region_rule(),
        "Resources": resources,
        "Outputs": outputs(functions),
    }
