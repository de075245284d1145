"""Seed a freshly provisioned stack: two pharmacies, their pharmacists and admins, one platform admin,
the professionals who log in with Pro Santé Connect and the fake PSC's national directory.

Users are enrolled as an invited user would be (temporary password, new password, TOTP
set-up), so that afterwards they log in only with password + TOTP. Passwords are random per
run; the returned list is what `.local/stack.json` publishes.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from stdnum import luhn

from chalicelib.adapters.dynamodb.models import MemberModel, PharmacyModel
from chalicelib.bootstrap import bind_tables
from chalicelib.config import load_settings
from chalicelib.domain.psc import PHARMACIST_PROFESSION, national_id_of_rpps, psc_username
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


@dataclass(frozen=True)
class SeedPscUser:
    """A professional who logs in with Pro Santé Connect: a member here, an identity at the fake PSC."""

    rpps: str
    finess: str  # the pharmacy that invited them
    role: str
    behaviour: str  # what the fake e-CPS and directory do: approves, declines, practises elsewhere
    directory_finess: str  # where the national directory says they practise as a pharmacist
    declines: bool = False

    @property
    def national_id(self) -> str:
        return national_id_of_rpps(self.rpps)


def rpps(prefix: str) -> str:
    """An RPPS number: 10 digits and their Luhn check digit."""
    return prefix + luhn.calc_check_digit(prefix)


PSC_USERS: tuple[SeedPscUser, ...] = (
    SeedPscUser(rpps("1000000001"), PHARMACY_A.finess, "pharmacist", "approves", PHARMACY_A.finess),
    SeedPscUser(rpps("1000000002"), PHARMACY_B.finess, "pharmacist", "approves", PHARMACY_B.finess),
    SeedPscUser(
        rpps("1000000003"), PHARMACY_A.finess, "pharmacist", "declines", PHARMACY_A.finess, declines=True
    ),
    SeedPscUser(
        rpps("1000000004"), PHARMACY_A.finess, "pharmacist", "practises elsewhere", PHARMACY_B.finess
    ),
    # A's admin who logs in with PSC: the one who can turn "PSC required" on (it binds admins too)
    SeedPscUser(rpps("1000000006"), PHARMACY_A.finess, "pharmacy_admin", "approves", PHARMACY_A.finess),
)
# A pharmacy not seeded, for docs/security.md's onboarding: the platform onboards it and invites its first
# pharmacy_admin, a pharmacist the national directory lists there.
NEW_PHARMACY = SeedPharmacy(finess("69000001"), "Pharmacie C (à intégrer)")


@dataclass(frozen=True)
class DirectoryOnly:
    """A pharmacist the fake PSC's directory lists, whom no pharmacy has invited yet."""

    rpps: str
    directory_finess: str

    @property
    def national_id(self) -> str:
        return national_id_of_rpps(self.rpps)


DIRECTORY_ONLY: tuple[DirectoryOnly, ...] = (
    DirectoryOnly(rpps("1000000005"), PHARMACY_A.finess),  # A's admin invites them (docs/psc.md)
    DirectoryOnly(rpps("1000000007"), NEW_PHARMACY.finess),  # its first admin (docs/security.md)
)


def psc_directory() -> dict[str, Any]:
    """The fake PSC's directory (devtools/fake_psc.py) for the seeded professionals."""
    listed: list[SeedPscUser | DirectoryOnly] = [*PSC_USERS, *DIRECTORY_ONLY]
    return {
        "identities": [
            {
                "national_id": user.national_id,
                "rpps": user.rpps,
                "given_name": "Camille",
                "family_name": f"Pharmacien{index}",
                "professions": [{"code": PHARMACIST_PROFESSION, "finess": [user.directory_finess]}],
                "declines": isinstance(user, SeedPscUser) and user.declines,
            }
            for index, user in enumerate(listed, start=1)
        ]
    }


def write_psc_directory(path: Path) -> None:
    path.write_text(json.dumps(psc_directory(), indent=2))


def seed_psc_members(env: dict[str, str]) -> list[dict[str, Any]]:
    """Memberships by national identifier; returns `psc_users` for stack.json."""
    bind_tables(load_settings(env))
    now = datetime.now(UTC).isoformat()
    for user in PSC_USERS:
        MemberModel(
            psc_username(user.national_id),
            role=user.role,
            finess=user.finess,
            national_id=user.national_id,
            created_at=now,
            created_by=SEEDED_BY,
        ).save()
    return [
        {
            "national_id": user.national_id,
            "rpps": user.rpps,
            "finess": user.finess,
            "role": user.role,
            "username": psc_username(user.national_id),
            "behaviour": user.behaviour,
        }
        for user in PSC_USERS
    ]


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
    cognito: Any = session.client("cognito-idp", endpoint_url=endpoint_url)
    user_pool_id = env["USER_POOL_ID"]
    client_id = env["APP_CLIENT_IDS"].split(",")[0]
    bind_tables(load_settings(env))
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
