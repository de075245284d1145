"""The Cognito user pool and app client settings: one source for the infra template and the local stack.

Keys are CreateUserPool / CreateUserPoolClient API parameter names, which are also the
CloudFormation property names of AWS::Cognito::UserPool and AWS::Cognito::UserPoolClient, but
for `PoolName` (CloudFormation: `UserPoolName`, renamed by infra/template/identity.py).
"""

from __future__ import annotations

from typing import Any

# CNIL deliberation 2022-100: a password alone needs ~80 bits of entropy; 12 characters drawn
# from the four classes reach it. MFA (TOTP) is mandatory on top.
PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 12,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 3,
}

ACCESS_TOKEN_MINUTES = 15
ID_TOKEN_MINUTES = 15
REFRESH_TOKEN_HOURS = 12


def user_pool_settings(pool_name: str) -> dict[str, Any]:
    return {
        "PoolName": pool_name,
        "Policies": {"PasswordPolicy": dict(PASSWORD_POLICY)},
        "MfaConfiguration": "ON",
        "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],  # TOTP only: no SMS
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},  # invitations only
        "UsernameConfiguration": {"CaseSensitive": False},
        "AutoVerifiedAttributes": ["email"],
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "admin_only"}]},
        "DeletionProtection": "ACTIVE",
        "Schema": [
            {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
        ],
    }


def app_client_settings(client_name: str) -> dict[str, Any]:
    return {
        "ClientName": client_name,
        "GenerateSecret": False,  # mobile clients cannot keep a secret
        "ExplicitAuthFlows": [
            "ALLOW_USER_SRP_AUTH",
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ],
        "AccessTokenValidity": ACCESS_TOKEN_MINUTES,
        "IdTokenValidity": ID_TOKEN_MINUTES,
        "RefreshTokenValidity": REFRESH_TOKEN_HOURS,
        "TokenValidityUnits": {
            "AccessToken": "minutes",
            "IdToken": "minutes",
            "RefreshToken": "hours",
        },
        "EnableTokenRevocation": True,
        "PreventUserExistenceErrors": "ENABLED",
    }
