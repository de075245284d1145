"""Seed a freshly provisioned stack: two pharmacies, their pharmacists and admins, one platform admin.

Users are enrolled as an invited user would be (temporary password, new password, TOTP
set-up), so that afterwards they log in only with password + TOTP. Passwords are random per
run; the returned list is what `.local/stack.json` publishes.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from stdnum import luhn

from chalicelib.adapters.dynamodb.models import MemberModel, PharmacyModel, bind_models
from chalicelib.config import load_settings
from devtools.login import fresh_totp_code

SEEDED_BY = "seed"
# Symbols Cognito counts, minus those a shell would interpret inside double quotes.
_SYMBOLS = "-_.+=@%^*"


def finess(prefix: str) -> str:
    """A FINESS number: 8 digits and their Luhn check digit."""
    return prefix + luhn.calc_check_digit(prefix)


@dataclass(frozen=True)
class SeedPharmacy:
    finess: str
    name: str


@dataclass(frozen=True)
class SeedUser:
    username: str
    role: str
    finess: str | None


PHARMACY_A = SeedPharmacy(finess("75000001"), "Pharmacie A (locale)")
PHARMACY_B = SeedPharmacy(finess("13000002"), "Pharmacie B (locale)")
PHARMACIES: tuple[SeedPharmacy, ...] = (PHARMACY_A, PHARMACY_B)
USERS: tuple[SeedUser, ...] = (
    SeedUser("pharmacist-a", "pharmacist", PHARMACY_A.finess),
    SeedUser("admin-a", "pharmacy_admin", PHARMACY_A.finess),
    SeedUser("pharmacist-b", "pharmacist", PHARMACY_B.finess),
    SeedUser("admin-b", "pharmacy_admin", PHARMACY_B.finess),
    SeedUser("operator", "platform_admin", None),
)


def generate_password(length: int = 20) -> str:
    """A random password with the pool's four character classes."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS)
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def enrol_user(
    cognito: Any, user_pool_id: str, client_id: str, username: str, email: str, password: str
) -> str:
    """Create a user and take them through the invitation flow; return their TOTP secret.

    The loop answers whichever challenge the pool asks for, because real Cognito and moto
    differ on when they ask (moto skips MFA_SETUP on some paths).
    """
    temporary = generate_password()
    cognito.admin_create_user(
        UserPoolId=user_pool_id,
        Username=username,
        TemporaryPassword=temporary,
        MessageAction="SUPPRESS",  # no invitation e-mail: we hand out the credentials ourselves
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    step = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temporary},
    )
    secret: str | None = None
    for _ in range(5):
        challenge = step.get("ChallengeName")
        if challenge == "NEW_PASSWORD_REQUIRED":
            step = cognito.respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName=challenge,
                Session=step["Session"],
                ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": password},
            )
        elif challenge == "MFA_SETUP":
            associated = cognito.associate_software_token(Session=step["Session"])
            secret = associated["SecretCode"]
            verified = cognito.verify_software_token(
                Session=associated["Session"], UserCode=fresh_totp_code(secret), FriendlyDeviceName="seed"
            )
            step = cognito.respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName=challenge,
                Session=verified["Session"],
                ChallengeResponses={"USERNAME": username},
            )
        elif "AuthenticationResult" in step:
            if secret is None:
                access_token = step["AuthenticationResult"]["AccessToken"]
                secret = cognito.associate_software_token(AccessToken=access_token)["SecretCode"]
                cognito.verify_software_token(
                    AccessToken=access_token, UserCode=fresh_totp_code(secret), FriendlyDeviceName="seed"
                )
            break
        else:
            raise RuntimeError(f"unexpected Cognito challenge while enrolling {username}: {challenge}")
    else:
        raise RuntimeError(f"enrolling {username} did not end with tokens")
    cognito.admin_set_user_mfa_preference(
        UserPoolId=user_pool_id,
        Username=username,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    return secret


def seed(env: dict[str, str], session: boto3.Session | None = None) -> list[dict[str, Any]]:
    """Write the pharmacies and memberships, enrol the users; return the users for stack.json."""
    session = session or boto3.Session(region_name=env.get("AWS_DEFAULT_REGION"))
    endpoint_url = env.get("AWS_ENDPOINT_URL")
    cognito: Any = session.client("cognito-idp", endpoint_url=endpoint_url)  # type: ignore[call-overload]
    user_pool_id = env["USER_POOL_ID"]
    client_id = env["APP_CLIENT_IDS"].split(",")[0]
    bind_models(load_settings(env))
    now = datetime.now(UTC).isoformat()
    for pharmacy in PHARMACIES:
        PharmacyModel(pharmacy.finess, name=pharmacy.name, created_at=now, created_by=SEEDED_BY).save()
    users: list[dict[str, Any]] = []
    for user in USERS:
        password = generate_password()
        totp_secret = enrol_user(
            cognito, user_pool_id, client_id, user.username, f"{user.username}@example.org", password
        )
        MemberModel(
            user.username, role=user.role, finess=user.finess, created_at=now, created_by=SEEDED_BY
        ).save()
        users.append(
            {
                "username": user.username,
                "password": password,
                "totp_secret": totp_secret,
                "role": user.role,
                "finess": user.finess,
            }
        )
    return users
