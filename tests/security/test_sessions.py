"""Ending a session takes effect on the next request: the first release let an access token read
records for up to 15 minutes after Cognito's global sign-out."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.models import AuditEventModel, MemberModel
from chalicelib.domain.model import Role
from chalicelib.domain.psc import psc_username
from chalicelib.ports import Membership
from devtools.login import login
from devtools.seed import enrol_user, generate_password
from tests.conftest import PHARMACY_A, PHARMACY_B, World
from tests.psc import PHARMACIST_A, PscWorld


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_after_logout_the_same_access_token_is_refused(world: World) -> None:
    earlier = int(time.time())  # not before the membership's own second: it accepts nothing older
    token = world.token("pharmacist-a", iat=earlier, auth_time=earlier)
    other_device = world.token("pharmacist-a", iat=earlier, auth_time=earlier, jti="other-device")
    assert world.client.http.get("/v1/tests", headers=_bearer(token)).status_code == 200
    assert world.client.http.post("/v1/session/logout", headers=_bearer(token)).status_code == 204
    for stale in (token, other_device):
        refused = world.client.http.get("/v1/tests", headers=_bearer(stale))
        assert refused.status_code == 401
        assert refused.headers["Content-Type"] == "application/problem+json"
    assert world.client.http.post("/v1/session/logout", headers=_bearer(token)).status_code == 401
    # a new login (a token issued after the logout's second) works
    later = int(time.time()) + 2
    fresh = world.token("pharmacist-a", iat=later, auth_time=later)
    assert world.client.http.get("/v1/tests", headers=_bearer(fresh)).status_code == 200
    # a token refreshed after the logout from a session that began before it is still refused
    refreshed = world.token("pharmacist-a", iat=later, auth_time=earlier)
    assert world.client.http.get("/v1/tests", headers=_bearer(refreshed)).status_code == 401
    events = [e.event for e in AuditEventModel.query(PHARMACY_A)]
    assert [e["outcome"] for e in events if e["action"] == "logout"] == ["success"]
    ended = [e for e in events if e["action"] == "authenticate" and e["outcome"] == "denied"]
    assert ended and all(e["actor"] == "pharmacist-a" for e in ended)
    assert token not in json.dumps(events)


def test_logging_out_ends_no_one_elses_session(world: World) -> None:
    assert world.call("POST", "/v1/session/logout", "admin-a").status_code == 204
    assert world.call("GET", "/v1/tests", "pharmacist-a").status_code == 200
    assert world.call("GET", "/v1/tests", "pharmacist-b").status_code == 200


def test_the_platform_admin_logs_out_too(world: World) -> None:
    token = world.token("operator", iat=int(time.time()))
    assert world.client.http.post("/v1/session/logout", headers=_bearer(token)).status_code == 204
    body = json.dumps({"finess": "690000013", "name": "P"})
    assert (
        world.client.http.post("/v1/admin/pharmacies", headers=_bearer(token), body=body).status_code == 401
    )


def test_logout_revokes_the_refresh_token_of_a_real_cognito_session(world: World) -> None:
    cognito = boto3.client("cognito-idp")
    password = generate_password()
    secret = enrol_user(cognito, world.pool_id, world.client_id, "pharmacist-x", "x@example.org", password)
    MemberModel(
        "pharmacist-x", role=Role.PHARMACIST.value, finess=PHARMACY_A, created_at="t", created_by="t"
    ).save()
    tokens = login(cognito, world.client_id, "pharmacist-x", password, secret)
    assert world.client.http.get("/v1/tests", headers=_bearer(tokens["AccessToken"])).status_code == 200
    assert (
        world.client.http.post("/v1/session/logout", headers=_bearer(tokens["AccessToken"])).status_code
        == 204
    )
    assert world.client.http.get("/v1/tests", headers=_bearer(tokens["AccessToken"])).status_code == 401
    with pytest.raises(ClientError) as refused:
        cognito.initiate_auth(
            ClientId=world.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_the_not_before_time_rides_on_the_membership_read(world: World) -> None:
    """No new round trip: the middleware reads the membership anyway, and the time is on it."""
    from chalicelib.bootstrap import get_container

    memberships = get_container().memberships
    later = int(time.time()) + 100
    memberships.end_sessions("pharmacist-b", not_before=later)
    assert memberships.get("pharmacist-b") == Membership(
        "pharmacist-b", Role.PHARMACIST, "130000029", tokens_not_before=later
    )
    # only ever later: an event that arrives late does not re-admit what a logout ended
    memberships.end_sessions("pharmacist-b", not_before=later - 50)
    member = memberships.get("pharmacist-b")
    assert member is not None and member.tokens_not_before == later
    memberships.end_sessions("nobody", not_before=later)  # no membership: nothing to end, no error
    assert memberships.get("nobody") is None


def test_a_new_membership_refuses_tokens_issued_before_it_existed(world: World) -> None:
    """The first release: a new membership had no "tokens not before", so a token issued to the
    same username before it existed (a revoked member invited again) was accepted by it."""
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships

    before = int(time.time()) - 60
    older = world.token("newcomer", iat=before, auth_time=before)
    DynamoDbMemberships(SystemClock()).add(
        Membership("newcomer", Role.PHARMACIST, PHARMACY_A), created_by="tests"
    )
    refused = world.client.http.get("/v1/tests", headers=_bearer(older))
    assert refused.status_code == 401
    assert world.client.http.get("/v1/tests", headers=_bearer(world.token("newcomer"))).status_code == 200
    # a refreshed token of a session that began before the membership is refused as well
    refreshed = world.token("newcomer", iat=int(time.time()), auth_time=before)
    assert world.client.http.get("/v1/tests", headers=_bearer(refreshed)).status_code == 401


def test_a_revoked_psc_member_invited_elsewhere_does_not_bring_back_their_token(psc: PscWorld) -> None:
    """The first release: revoked at A, invited by B, the token PSC vouched for at A read B's
    records for the rest of its 15 minutes."""
    world, username = psc.world, psc_username(PHARMACIST_A)
    # the directory lists them at both pharmacies: B may invite them
    psc.set_identity(PHARMACIST_A, professions=[{"code": "21", "finess": [PHARMACY_A, PHARMACY_B]}])
    token = psc.token(PHARMACIST_A)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", token).status_code == 200
    revoked = world.call("DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{username}", "admin-a")
    assert revoked.status_code == 204
    psc.advance(20)  # B invites them a little later
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_B}/members",
        "admin-b",
        {"national_id": PHARMACIST_A, "role": "pharmacist"},
    )
    assert invited.status_code == 201, invited.body
    stale = psc.call("GET", "/v1/tests?date=2026-11-29", token)
    assert stale.status_code == 401
    assert psc.call("GET", "/v1/tests?date=2026-11-29", psc.token(PHARMACIST_A)).status_code == 200


def _cognito_member(world: World, username: str) -> tuple[str, str]:
    """A real Cognito user of the pool (password + TOTP), member of pharmacy A: (access token, sub)."""
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships

    cognito = boto3.client("cognito-idp")
    password = generate_password()
    secret = enrol_user(
        cognito, world.pool_id, world.client_id, username, f"{username}@example.org", password
    )
    DynamoDbMemberships(SystemClock()).add(
        Membership(username, Role.PHARMACIST, PHARMACY_A), created_by="tests"
    )
    tokens = login(cognito, world.client_id, username, password, secret)
    user = cognito.admin_get_user(UserPoolId=world.pool_id, Username=username)
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return tokens["AccessToken"], sub


@pytest.mark.parametrize("command", ["disable", "sign-out", "delete"])
def test_disabling_signing_out_or_deleting_a_user_in_cognito_ends_their_token_on_the_next_request(
    world: World, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first release: a user disabled, signed out or deleted at Cognito (its console, the
    admin tool) kept reading records with their access token until it expired (15 minutes)."""
    from operations.users import main

    token, _ = _cognito_member(world, "pharmacist-x")
    assert world.client.http.get("/v1/tests", headers=_bearer(token)).status_code == 200
    assert main([command, "pharmacist-x", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["ended"] == 1 and done["delay_ms"] >= 0
    refused = world.client.http.get("/v1/tests", headers=_bearer(token))
    assert refused.status_code == 401
    events = [e.event for e in AuditEventModel.query(PHARMACY_A)]
    ended = [e for e in events if e["action"] == "end_sessions"]
    assert [e["actor"] for e in ended] == ["system:identity-provider"]
    assert token not in json.dumps(events)


def test_cloudtrails_record_of_a_users_own_global_sign_out_ends_their_token(world: World) -> None:
    """The AWS path: EventBridge hands CloudTrail's record to the app's handler; the user's own
    GlobalSignOut names them only by `sub` (their access token is hidden)."""
    from chalice.test import Client

    from app import app

    token, sub = _cognito_member(world, "pharmacist-y")
    boto3.client("cognito-idp").global_sign_out(AccessToken=token)
    assert world.client.http.get("/v1/tests", headers=_bearer(token)).status_code == 200  # not yet
    detail = {
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "eventSource": "cognito-idp.amazonaws.com",
        "eventName": "GlobalSignOut",
        "awsRegion": "eu-west-3",
        "userIdentity": {"type": "Unknown", "principalId": "Anonymous"},
        "requestParameters": {"accessToken": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        "additionalEventData": {"sub": sub},
        "eventID": "e-own-sign-out",
        "managementEvent": True,
    }
    with Client(app) as client:
        event = client.events.generate_cw_event(
            source="aws.cognito-idp",
            detail_type="AWS API Call via CloudTrail",
            detail=detail,
            resources=[],
            region="eu-west-3",
        )
        answer = client.lambda_.invoke("end_cognito_sessions", event)
    assert answer.payload == {"ended": 1}
    assert world.client.http.get("/v1/tests", headers=_bearer(token)).status_code == 401


def _cloudtrail_event(source: str, detail: dict[str, object]) -> dict[str, object]:
    """What EventBridge hands end_cognito_sessions: the envelope (its `source`) around the record."""
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        event: dict[str, object] = client.events.generate_cw_event(
            source=source,
            detail_type="AWS API Call via CloudTrail",
            detail=detail,
            resources=[],
            region="eu-west-3",
        )
        answer = client.lambda_.invoke("end_cognito_sessions", event)
    payload: dict[str, object] = answer.payload
    return payload


def _admin_call(username: str, event_time: str | None = None) -> dict[str, object]:
    return {
        "eventTime": event_time or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "eventSource": "cognito-idp.amazonaws.com",
        "eventName": "AdminUserGlobalSignOut",
        "awsRegion": "eu-west-3",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/x/y"},
        "requestParameters": {"userPoolId": "", "username": username},
        "eventID": "e-crafted",
    }


def test_a_crafted_event_put_on_the_bus_ends_no_session(world: World) -> None:
    """Anyone allowed events:PutEvents on the account's bus (another application's function, its own
    IAM rights) could send a detail shaped as CloudTrail's: the rule matched on the detail only, so
    it ended any member's sessions (ended 1). Only AWS sends events whose source is aws.*."""
    from chalicelib.services.identity_events import EVENT_PATTERN

    assert EVENT_PATTERN["source"] == ["aws.cognito-idp"]
    token = world.token("pharmacist-a", iat=int(time.time()))
    detail = {
        **_admin_call("pharmacist-a"),
        "requestParameters": {"userPoolId": world.pool_id, "username": "pharmacist-a"},
    }
    assert _cloudtrail_event("attacker.app", detail) == {"ended": 0}
    assert world.client.http.get("/v1/tests", headers=_bearer(token)).status_code == 200
    assert _cloudtrail_event("aws.cognito-idp", detail) == {"ended": 1}  # CloudTrail's own
    assert world.client.http.get("/v1/tests", headers=_bearer(token)).status_code == 401


def test_a_call_dated_in_the_future_does_not_lock_the_member_out(world: World) -> None:
    """A record whose eventTime is in the year 9999 set "tokens not before" there, and since it only
    ever moves later, no login of that member would ever be accepted again. The call happened
    before it is handled: its time is taken no later than now."""
    detail = {
        **_admin_call("pharmacist-a", "9999-12-31T23:59:59Z"),
        "requestParameters": {"userPoolId": world.pool_id, "username": "pharmacist-a"},
    }
    assert _cloudtrail_event("aws.cognito-idp", detail) == {"ended": 1}
    member = MemberModel.get("pharmacist-a")
    assert int(member.tokens_not_before) <= int(time.time()) + 1
    later = int(time.time()) + 2
    fresh = world.token("pharmacist-a", iat=later, auth_time=later)
    assert world.client.http.get("/v1/tests", headers=_bearer(fresh)).status_code == 200


def test_a_cognito_call_naming_a_psc_username_ends_no_psc_session(psc: PscWorld) -> None:
    """A Pro Santé Connect member has no Cognito user: a Cognito user created with their username
    (an operator of the pool can) and then signed out must not end the professional's session."""
    token = psc.token(PHARMACIST_A)
    detail = {
        **_admin_call(psc_username(PHARMACIST_A)),
        "requestParameters": {"userPoolId": psc.world.pool_id, "username": psc_username(PHARMACIST_A)},
    }
    assert _cloudtrail_event("aws.cognito-idp", detail) == {"ended": 0}
    assert psc.call("GET", "/v1/tests?date=2026-11-29", token).status_code == 200
