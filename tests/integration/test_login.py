"""The Cognito flow of the local stack, in-process on moto: enrolment, then password + TOTP."""

from __future__ import annotations

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.models import MemberModel, PharmacyModel
from devtools.login import LoginError, login, totp_code
from devtools.seed import PHARMACIES, USERS, enrol_user, generate_password, seed


@pytest.fixture
def enrolled(aws: dict[str, str]) -> dict[str, str]:
    cognito = boto3.client("cognito-idp")
    password = generate_password()
    client_id = aws["APP_CLIENT_IDS"]
    secret = enrol_user(cognito, aws["USER_POOL_ID"], client_id, "pharmacist-x", "x@example.org", password)
    return {"client_id": client_id, "username": "pharmacist-x", "password": password, "secret": secret}


def test_password_and_totp_give_an_access_token(enrolled: dict[str, str]) -> None:
    cognito = boto3.client("cognito-idp")
    tokens = login(cognito, enrolled["client_id"], "pharmacist-x", enrolled["password"], enrolled["secret"])
    claims = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})
    assert claims["token_use"] == "access"
    assert claims["username"] == "pharmacist-x"
    assert claims["client_id"] == enrolled["client_id"]
    # moto issues one-hour tokens whatever the client says; the client asks Cognito for 15 minutes.
    client = cognito.describe_user_pool_client(
        UserPoolId=claims["iss"].rsplit("/", 1)[1], ClientId=claims["client_id"]
    )
    assert client["UserPoolClient"]["AccessTokenValidity"] == 15
    assert client["UserPoolClient"]["TokenValidityUnits"]["AccessToken"] == "minutes"


def test_a_wrong_totp_code_is_refused(enrolled: dict[str, str]) -> None:
    cognito = boto3.client("cognito-idp")
    started = cognito.initiate_auth(
        ClientId=enrolled["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "pharmacist-x", "PASSWORD": enrolled["password"]},
    )
    assert started["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert "AuthenticationResult" not in started
    # The code of a step long gone: right format, wrong value.
    stale = totp_code(enrolled["secret"], at=0)
    wrong = stale if stale != totp_code(enrolled["secret"]) else f"{(int(stale) + 1) % 10**6:06d}"
    with pytest.raises(ClientError) as refused:
        cognito.respond_to_auth_challenge(
            ClientId=enrolled["client_id"],
            ChallengeName="SOFTWARE_TOKEN_MFA",
            Session=started["Session"],
            ChallengeResponses={"USERNAME": "pharmacist-x", "SOFTWARE_TOKEN_MFA_CODE": wrong},
        )
    assert refused.value.response["Error"]["Code"] == "CodeMismatchException"


def test_a_wrong_secret_through_login_is_refused(enrolled: dict[str, str]) -> None:
    cognito = boto3.client("cognito-idp")
    with pytest.raises(ClientError) as refused:
        login(cognito, enrolled["client_id"], "pharmacist-x", enrolled["password"], "JBSWY3DPEHPK3PXP")
    assert refused.value.response["Error"]["Code"] == "CodeMismatchException"


def test_a_wrong_password_is_refused_before_any_mfa(enrolled: dict[str, str]) -> None:
    cognito = boto3.client("cognito-idp")
    with pytest.raises(ClientError) as refused:
        login(cognito, enrolled["client_id"], "pharmacist-x", generate_password(), enrolled["secret"])
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_a_user_without_mfa_is_not_accepted_by_login(aws: dict[str, str]) -> None:
    # A pool or user that hands out tokens on the password alone is a misconfiguration to report.
    cognito = boto3.client("cognito-idp")
    password = generate_password()
    cognito.admin_create_user(UserPoolId=aws["USER_POOL_ID"], Username="nomfa", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=aws["USER_POOL_ID"], Username="nomfa", Password=password, Permanent=True
    )
    with pytest.raises(LoginError):
        login(cognito, aws["APP_CLIENT_IDS"], "nomfa", password, "JBSWY3DPEHPK3PXP")


def test_seed_writes_pharmacies_memberships_and_loginable_users(aws: dict[str, str]) -> None:
    users = seed(aws)
    assert {u["username"] for u in users} == {u.username for u in USERS}
    assert {u["role"] for u in users} == {"pharmacist", "pharmacy_admin", "platform_admin"}
    for pharmacy in PHARMACIES:
        assert PharmacyModel.get(pharmacy.finess).name == pharmacy.name
        members = {m.username: m.role for m in MemberModel.by_pharmacy.query(pharmacy.finess)}
        assert sorted(members.values()) == ["pharmacist", "pharmacy_admin"]
    assert MemberModel.get("operator").finess is None
    cognito = boto3.client("cognito-idp")
    for user in users:
        assert len(user["password"]) >= 12
        tokens = login(
            cognito, aws["APP_CLIENT_IDS"], user["username"], user["password"], user["totp_secret"]
        )
        assert tokens["AccessToken"]
