"""The template's Pro Santé Connect part: the client secret, the settings per environment, the
session signing key, and who may use them (pure: no packaging, no AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import load_settings
from infra.template import DIRECTORY_URL, PSC_ENVIRONMENTS, Function, merge_template

API = Function("api_handler", "APIHandler")
EXPORT = Function("export_to_sidep", "ExportToSidep")
PURGE = Function("purge_expired", "PurgeExpired")


def _template() -> dict[str, Any]:
    return merge_template([API, EXPORT, PURGE], "eu-west-3", "prod")


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template["Resources"][f"{role}Policy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    return statements


@pytest.mark.parametrize("name", ["PscClientSecret", "PscDirectoryApiKey"])
def test_the_psc_client_secret_and_directory_key_are_secrets_encrypted_with_our_key_and_never_parameters(
    name: str,
) -> None:
    t = _template()
    secret = t["Resources"][name]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StorageKey", "Arn"]}
    assert (
        "SecretString" not in secret["Properties"]
    )  # the operator puts PSC's secret and the ANS's key; the template never holds them
    assert not any(word in p.lower() for p in t["Parameters"] for word in ("secret", "key"))
    assert t["Outputs"][f"{name}Arn"] == {"Value": {"Ref": name}}  # where the operator puts it


def test_the_directory_defaults_to_the_ans_fhir_api_over_https() -> None:
    parameter = _template()["Parameters"]["PscDirectoryUrl"]
    assert parameter["Default"] == DIRECTORY_URL == "https://gateway.api.esante.gouv.fr/fhir/v2"
    assert parameter["AllowedPattern"] == "^(https://.+)?$"


def test_psc_settings_are_declared_per_environment() -> None:
    t = _template()
    parameter = t["Parameters"]["PscEnvironment"]
    assert parameter["AllowedValues"] == ["bas", "production"] and parameter["Default"] == "bas"
    urls = {env: entry["DiscoveryUrl"] for env, entry in t["Mappings"]["PscEnvironments"].items()}
    assert urls == {env: entry["DiscoveryUrl"] for env, entry in PSC_ENVIRONMENTS.items()}
    assert all(url.startswith("https://auth.") and ".esante.gouv.fr/" in url for url in urls.values())
    assert "bas." in urls["bas"] and "bas." not in urls["production"]


def test_only_the_api_gets_the_psc_settings_and_they_are_names_the_app_reads() -> None:
    t = _template()
    api_env = t["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api_env["PSC_DISCOVERY_URL"] == {
        "Fn::FindInMap": ["PscEnvironments", {"Ref": "PscEnvironment"}, "DiscoveryUrl"]
    }
    assert api_env["PSC_CLIENT_SECRET_ID"] == {"Ref": "PscClientSecret"}
    assert api_env["PSC_CLIENT_ID"] == {"Ref": "PscClientId"}
    assert api_env["PSC_DIRECTORY_URL"] == {"Ref": "PscDirectoryUrl"}  # read at invitation
    assert api_env["PSC_DIRECTORY_API_KEY_SECRET_ID"] == {"Ref": "PscDirectoryApiKey"}
    assert api_env["SESSION_KEY_ID"] == {"Fn::GetAtt": ["SessionKey", "Arn"]}
    settings = load_settings(
        {
            name: "x"
            for name in (
                "PSC_DISCOVERY_URL",
                "PSC_CLIENT_ID",
                "PSC_CLIENT_SECRET_ID",
                "SESSION_KEY_ID",
                "PSC_DIRECTORY_URL",
                "PSC_DIRECTORY_API_KEY_SECRET_ID",
            )
        }
    )
    assert (
        settings.psc_discovery_url,
        settings.psc_client_id,
        settings.psc_client_secret_id,
        settings.session_key_id,
        settings.psc_directory_url,
        settings.psc_directory_api_key_secret_id,
    ) == ("x",) * 6
    for other in ("ExportToSidep", "PurgeExpired"):
        env = t["Resources"][other]["Properties"]["Environment"]["Variables"]
        assert not {k for k in env if k.startswith(("PSC_", "SESSION_")) and not k.endswith("_TABLE")}, other
    (logins,) = [s for s in _statements(t, "APIHandler") if s["Sid"] == "TablePscLoginsTable"]
    assert "dynamodb:DeleteItem" in logins["Action"]  # a login is single use


def test_only_the_api_reads_the_secrets_and_signs_session_tokens() -> None:
    t = _template()
    reads = [s for s in _statements(t, "APIHandler") if any("secretsmanager" in a for a in s["Action"])]
    # one statement per secret, each read only, each naming that secret alone
    assert sorted((s["Resource"]["Ref"], tuple(s["Action"])) for s in reads) == [
        ("PscClientSecret", ("secretsmanager:GetSecretValue",)),
        ("PscDirectoryApiKey", ("secretsmanager:GetSecretValue",)),
    ]
    for other in ("ExportToSidep", "PurgeExpired"):
        # the export reads its own secret (the SI-DEP certificate), never PSC's
        assert not [
            s
            for s in _statements(t, other)
            if any("secretsmanager" in a for a in s["Action"]) and s["Resource"] != {"Ref": "SidepTlsSecret"}
        ]
    key = t["Resources"]["SessionKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    by_sid = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    assert by_sid["APIHandlerUses"]["Action"] == ["kms:Sign", "kms:GetPublicKey"]
    assert by_sid["APIHandlerNeverManages"]["NotAction"] == ["kms:Sign", "kms:GetPublicKey"]
    assert by_sid["ExportToSidepNeverUses"]["Action"] == "kms:*"
