"""The template's Pro Santé Connect part: the client secret, the settings per environment, the
session signing key, and who may use them (pure: no packaging, no AWS)."""

from __future__ import annotations

from typing import Any

from chalicelib.config import load_settings
from infra.template import PSC_ENVIRONMENTS, Function, merge_template

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


def test_the_psc_client_secret_is_a_secret_encrypted_with_our_key_and_never_a_parameter() -> None:
    t = _template()
    secret = t["Resources"]["PscClientSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StorageKey", "Arn"]}
    assert (
        "SecretString" not in secret["Properties"]
    )  # the operator puts PSC's secret; the template never holds it
    assert not any("secret" in name.lower() for name in t["Parameters"])


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
    assert api_env["SESSION_KEY_ID"] == {"Fn::GetAtt": ["SessionKey", "Arn"]}
    settings = load_settings(
        {
            name: "x"
            for name in ("PSC_DISCOVERY_URL", "PSC_CLIENT_ID", "PSC_CLIENT_SECRET_ID", "SESSION_KEY_ID")
        }
    )
    assert (
        settings.psc_discovery_url,
        settings.psc_client_id,
        settings.psc_client_secret_id,
        settings.session_key_id,
    ) == ("x",) * 4
    for other in ("ExportToSidep", "PurgeExpired"):
        env = t["Resources"][other]["Properties"]["Environment"]["Variables"]
        assert not {k for k in env if k.startswith(("PSC_", "SESSION_")) and not k.endswith("_TABLE")}, other
    (logins,) = [s for s in _statements(t, "APIHandler") if s["Sid"] == "TablePscLoginsTable"]
    assert "dynamodb:DeleteItem" in logins["Action"]  # a login is single use


def test_only_the_api_reads_the_secret_and_signs_session_tokens() -> None:
    t = _template()
    (read,) = [s for s in _statements(t, "APIHandler") if "secretsmanager:GetSecretValue" in s["Action"]]
    assert read["Resource"] == {"Ref": "PscClientSecret"} and read["Action"] == [
        "secretsmanager:GetSecretValue"
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
