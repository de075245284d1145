"""Cognito calls that end a user's sessions, as CloudTrail records them, on in-memory ports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.model import Role
from chalicelib.ports import Membership
from chalicelib.services.identity_events import (
    EVENT_PATTERN,
    SESSION_ENDING_CALLS,
    IdentityEventDeps,
    UnresolvedIdentityEvent,
    end_sessions,
)
from testkit.fakes import FakeJournal, FakeMemberships, FakeUserLookup, FixedClock

POOL = "eu-west-3_pool"
PHARMACY = "750000010"
SUB = "8d8abbb9-a4a4-4c82-978f-7503cdc1abb1"
CALLED_AT = datetime(2026, 11, 29, 11, 59, 30, tzinfo=UTC)


def _deps(lookup: FakeUserLookup | None = None) -> tuple[IdentityEventDeps, FakeMemberships, FakeJournal]:
    memberships, journal = FakeMemberships(), FakeJournal()
    memberships.add(Membership("camille", Role.PHARMACIST, PHARMACY), created_by="test")
    deps = IdentityEventDeps(memberships, lookup or FakeUserLookup(), journal, FixedClock(), POOL)
    return deps, memberships, journal


def record(call: str = "AdminDisableUser", **changes: Any) -> dict[str, Any]:
    """What CloudTrail records of an admin call of the user pools API."""
    body: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/ops"},
        "eventTime": "2026-11-29T11:59:30Z",
        "eventSource": "cognito-idp.amazonaws.com",
        "eventName": call,
        "awsRegion": "eu-west-3",
        "requestParameters": {"userPoolId": POOL, "username": "camille"},
        "responseElements": None,
        "eventID": "e-1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
    }
    body.update(changes)
    return body


@pytest.mark.parametrize("call", ["AdminDisableUser", "AdminDeleteUser", "AdminUserGlobalSignOut"])
def test_an_admin_call_ends_the_members_tokens_issued_until_the_call(call: str) -> None:
    deps, memberships, journal = _deps()
    ended = end_sessions(deps, record(call))
    assert ended is not None and ended.username == "camille"
    member = memberships.get("camille")
    assert member is not None and member.tokens_not_before == int(CALLED_AT.timestamp()) + 1
    (event,) = journal.events
    assert (event.action, event.actor, event.finess, event.request_id) == (
        "end_sessions",
        "system:identity-provider",
        PHARMACY,
        "e-1",
    )
    assert call in event.reason and "assumed-role/Admin/ops" in event.reason


def test_the_users_own_sign_out_is_resolved_by_its_sub() -> None:
    deps, memberships, _ = _deps(FakeUserLookup({SUB: "camille"}))
    own = record(
        "GlobalSignOut",
        requestParameters={"accessToken": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        additionalEventData={"sub": SUB},
    )
    assert end_sessions(deps, own) is not None
    member = memberships.get("camille")
    assert member is not None and member.tokens_not_before == int(CALLED_AT.timestamp()) + 1


def test_an_admin_call_naming_the_user_by_sub_is_resolved() -> None:
    deps, memberships, _ = _deps(FakeUserLookup({SUB: "camille"}))
    ended = end_sessions(deps, record(requestParameters={"userPoolId": POOL, "username": SUB}))
    assert ended is not None and ended.username == "camille"
    member = memberships.get("camille")
    assert member is not None and member.tokens_not_before is not None


def test_a_hidden_username_is_resolved_by_sub_or_the_invocation_fails_loudly() -> None:
    deps, _, _ = _deps(FakeUserLookup({SUB: "camille"}))
    hidden = {"userPoolId": POOL, "username": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    ended = end_sessions(deps, record(requestParameters=hidden, additionalEventData={"sub": SUB}))
    assert ended is not None and ended.username == "camille"
    with pytest.raises(UnresolvedIdentityEvent):  # retried, then dead-lettered: the alarm tells
        end_sessions(deps, record(requestParameters=hidden))


@pytest.mark.parametrize(
    "changes",
    [
        {"errorCode": "NotAuthorizedException"},  # refused: nothing changed at Cognito
        {"requestParameters": {"userPoolId": "eu-west-3_other", "username": "camille"}},
        {"eventName": "AdminEnableUser"},
        {"eventSource": "cognito-identity.amazonaws.com"},
    ],
)
def test_what_ends_no_session_changes_nothing(changes: dict[str, Any]) -> None:
    deps, memberships, journal = _deps()
    assert end_sessions(deps, record(**changes)) is None
    member = memberships.get("camille")
    assert member is not None and member.tokens_not_before is None and not journal.events


def test_a_user_without_a_membership_has_no_session_to_end() -> None:
    deps, _, journal = _deps()
    ended = end_sessions(deps, record(requestParameters={"userPoolId": POOL, "username": "stranger"}))
    assert ended is not None and ended.username is None and not journal.events


def test_a_late_event_never_re_admits_what_a_later_logout_ended() -> None:
    deps, memberships, _ = _deps()
    later = int(CALLED_AT.timestamp()) + 600
    memberships.end_sessions("camille", not_before=later)
    end_sessions(deps, record())
    member = memberships.get("camille")
    assert member is not None and member.tokens_not_before == later


@pytest.mark.parametrize(
    "changes",
    [
        {"eventTime": 12},
        {"eventTime": "yesterday"},
        {"eventTime": "2026-11-29T11:59:30"},  # no zone: the handler's clock instead
        {"userIdentity": ["not", "a", "map"]},
    ],
)
def test_an_odd_record_still_ends_the_sessions_at_the_latest_known_moment(changes: dict[str, Any]) -> None:
    deps, memberships, _ = _deps()
    assert end_sessions(deps, record(**changes)) is not None
    member = memberships.get("camille")
    assert member is not None and member.tokens_not_before is not None
    assert member.tokens_not_before >= int(CALLED_AT.timestamp()) + 1


def test_the_rule_matches_exactly_the_calls_the_handler_applies() -> None:
    assert EVENT_PATTERN["detail"]["eventName"] == list(SESSION_ENDING_CALLS)
    assert EVENT_PATTERN["detail-type"] == ["AWS API Call via CloudTrail"]
