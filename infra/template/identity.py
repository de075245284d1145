"""Identity: the Cognito user pool and app client (the local stack's settings), Pro Santé Connect's
environments and the secrets the API reads at login and at invitation.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.cognito_pool import app_client_settings, user_pool_settings
from infra.template.base import APP_NAME, arn, skip, tags

# Pro Santé Connect per environment: the sandbox ("bas") and production discovery documents
# (PSC's public documentation; what remains to confirm is in docs/psc.md).
PSC_ENVIRONMENTS: dict[str, dict[str, str]] = {
    "bas": {
        "DiscoveryUrl": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    },
    "production": {
        "DiscoveryUrl": "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    },
}

# The national directory of health professionals (ANS Annuaire Santé FHIR API v2, production: the
# ANS runs no sandbox of it; docs/sources.md), the PscDirectoryUrl parameter's default.
DIRECTORY_URL = "https://gateway.api.esante.gouv.fr/fhir/v2"

# Roles that read the PSC client secret (encrypted with the storage key, through Secrets Manager).
SECRET_READERS = frozenset({"api"})

COGNITO_ADMIN_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminUserGlobalSignOut",
    "cognito-idp:AdminSetUserMFAPreference",
)


def pool_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


def client_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}-mobile"


# CreateUserPool parameters whose CloudFormation property has another name.
POOL_API_TO_CFN = {"PoolName": "UserPoolName"}


def pool_properties(stage: str) -> dict[str, Any]:
    """The local stack's user pool settings (devtools/provision.py), as CFN properties."""
    return {POOL_API_TO_CFN.get(k, k): v for k, v in user_pool_settings(pool_name(stage)).items()}


def cognito(stage: str) -> dict[str, Any]:
    return {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": pool_properties(stage),
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {**app_client_settings(client_name(stage)), "UserPoolId": {"Ref": "UserPool"}},
        },
    }


def psc_secrets(stage: str) -> dict[str, Any]:
    """PSC's client secret: created with a placeholder, set by the operator from PSC's portal
    (`aws secretsmanager put-secret-value --secret-id <PscClientSecretArn> --secret-string …`)."""
    return {
        "PscClientSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": f"{APP_NAME}-{stage}/psc-client-secret",
                "Description": "Pro Santé Connect client secret (HTTP Basic on the CIBA endpoints)",
                "KmsKeyId": arn("StorageKey"),
                "GenerateSecretString": {"PasswordLength": 32, "ExcludePunctuation": True},
                "Tags": tags(stage),
            },
            "Metadata": skip(
                (
                    "CKV2_AWS_57",
                    "PSC issues the client secret in its portal: rotation is done there, then put "
                    "here by the operator; a rotation Lambda could not obtain a new one.",
                )
            ),
        },
        # The national directory's API key (ANS Annuaire Santé, `ESANTE-API-KEY`), read at
        # invitation: created with a placeholder, set by the operator from the ANS's API portal
        # (`aws secretsmanager put-secret-value --secret-id <PscDirectoryApiKeyArn> --secret-string …`).
        "PscDirectoryApiKey": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": f"{APP_NAME}-{stage}/annuaire-sante-api-key",
                "Description": "ANS Annuaire Santé FHIR API key (ESANTE-API-KEY header), read at invitation",
                "KmsKeyId": arn("StorageKey"),
                "GenerateSecretString": {"PasswordLength": 32, "ExcludePunctuation": True},
                "Tags": tags(stage),
            },
            "Metadata": skip(
                (
                    "CKV2_AWS_57",
                    "The ANS issues the API key in its portal: rotation is done there, then put "
                    "here by the operator; a rotation Lambda could not obtain a new one.",
                )
            ),
        },
    }
