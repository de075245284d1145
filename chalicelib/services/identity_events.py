"""Sessions that the identity provider ends: a user disabled, deleted or signed out in Cognito
(its console, its API) loses their access tokens on their next request.

Cognito stops issuing tokens to such a user but cannot recall the access tokens it already
issued, and the API verifies tokens without asking Cognito (no round trip per request). So each
of these calls, recorded by CloudTrail and delivered by EventBridge (infra/template/functions.py), comes
here: the user's membership gets a "tokens not before" just after the call, which the middleware
already reads on every request (services/auth.py). The local stack has no CloudTrail: its admin
tool (operations/users.py) delivers the same event to the same handler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.identity_events import (  # re-exported: the calls and the pattern, declared once
    COGNITO_EVENT_SOURCE,
    EVENT_PATTERN,
    EVENTBRIDGE_SOURCE,
    SESSION_ENDING_CALLS,
)
from chalicelib.ports import AuditJournal, Clock, MembershipRepository, UserLookup
from chalicelib.services.auth import not_before_after

__all__ = ["COGNITO_EVENT_SOURCE", "EVENTBRIDGE_SOURCE", "EVENT_PATTERN", "SESSION_ENDING_CALLS"]

IDENTITY_PROVIDER_ACTOR = "system:identity-provider"
# CloudTrail hides some of Cognito's request parameters behind a marker (never a username of ours).
_HIDDEN = re.compile(r"^HIDDEN_(DUE_TO|FOR)_SECURITY_REASONS$")
_SUB = re.compile(r"^[0-9a-fA-F-]{36}$")


class UnresolvedIdentityEvent(Exception):
    """A session-ending call whose user cannot be told: raised so that the invocation fails, is
    retried, then dead-lettered, and the operator's alarms say so (a silent skip would leave the
    user's tokens valid)."""


@dataclass(frozen=True)
class IdentityEventDeps:
    memberships: MembershipRepository
    users: UserLookup
    journal: AuditJournal
    clock: Clock
    user_pool_id: str


@dataclass(frozen=True)
class SessionsEnded:
    call: str
    username: str | None  # None: the call was not for a member (nothing to end)
    not_before: int | None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value and not _HIDDEN.match(value) else None


def _username(deps: IdentityEventDeps, detail: Mapping[str, Any]) -> str | None:
    parameters = detail.get("requestParameters")
    username = _text(parameters.get("username")) if isinstance(parameters, Mapping) else None
    if username is not None and not _SUB.match(username):
        return username
    # The admin calls take a user's `sub` as well as their username (ours never look like one);
    # the user's own calls (a token, not a username) name them by `sub`, if at all.
    extra = detail.get("additionalEventData")
    sub = username or (_text(extra.get("sub")) if isinstance(extra, Mapping) else None)
    if sub is not None and _SUB.match(sub):
        return deps.users.username_of(sub)
    raise UnresolvedIdentityEvent(f"{detail.get('eventName')} names no user this function can resolve")


def _call_time(deps: IdentityEventDeps, detail: Mapping[str, Any]) -> datetime:
    text = detail.get("eventTime")
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            # the call happened before now: a later time (a crafted record's year 9999) would
            # refuse every future login of the member, the time only ever moving later
            return min(moment, deps.clock.now())
    return deps.clock.now()  # the call happened before now: this refuses at least as much


def _caller(detail: Mapping[str, Any]) -> str:
    identity = detail.get("userIdentity")
    if isinstance(identity, Mapping):
        for field in ("arn", "type"):
            if isinstance(identity.get(field), str):
                return str(identity[field])
    return "unknown"


def end_sessions(
    deps: IdentityEventDeps, detail: Mapping[str, Any], *, source: str = EVENTBRIDGE_SOURCE
) -> SessionsEnded | None:
    """Apply one CloudTrail record (an EventBridge event's `detail`, its envelope's `source`): None
    when it is not a successful session-ending call on our pool sent by AWS. Safe to retry, and in
    any order: the time only ever moves later (MembershipRepository.end_sessions)."""
    if source != EVENTBRIDGE_SOURCE:
        return None
    call = detail.get("eventName")
    if detail.get("eventSource") != COGNITO_EVENT_SOURCE or call not in SESSION_ENDING_CALLS:
        return None
    if detail.get("errorCode"):  # refused or failed: nothing changed at Cognito
        return None
    parameters = detail.get("requestParameters")
    pool = parameters.get("userPoolId") if isinstance(parameters, Mapping) else None
    if pool is not None and pool != deps.user_pool_id:
        return None
    username = _username(deps, detail)
    membership = deps.memberships.get(username) if username else None
    if username is None or membership is None or membership.national_id is not None:
        # a Pro Santé Connect member has no Cognito user: a Cognito user given their username
        # (psc-…) is not them
        return SessionsEnded(str(call), None, None)
    not_before = not_before_after(_call_time(deps, detail))
    deps.memberships.end_sessions(username, not_before=not_before)
    deps.journal.append(
        AuditEvent(
            action="end_sessions",
            outcome="success",
            actor=IDENTITY_PROVIDER_ACTOR,
            role="",
            finess=membership.finess,
            request_id=str(detail.get("eventID") or ""),
            reason=f"{call} of {membership.username} by {_caller(detail)}",
        )
    )
    return SessionsEnded(str(call), membership.username, not_before)
