"""Pro Santé Connect login for the mobile app, through this server (CIBA in poll mode).

1. `start_login`: the app names a national identifier; we check that a pharmacy invited it,
   post the backchannel authentication request to PSC with a binding message (shown on the app
   and on the e-CPS), store the login and give the app an opaque handle.
2. `poll_login`: the app polls with its handle; we poll PSC's token endpoint at most once per
   interval (earlier is `slow_down`), relay pending / expired / declined, and on approval verify
   the ID token and userinfo (pharmacist, practising at the member's pharmacy), then issue our
   own short-lived access token. Every refusal is journaled with a fixed reason; nothing PSC or
   the caller sent is echoed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.model import Principal, Role
from chalicelib.domain.outcomes import LoginStarted, SessionGranted
from chalicelib.domain.psc import (
    AccessDenied,
    AuthorizationPending,
    LoginExpired,
    PscRefused,
    SlowDown,
    UnknownIdentifier,
    UnknownLogin,
    check_practice,
    psc_username,
    read_practice,
)
from chalicelib.payloads import parse_login_request
from chalicelib.ports import (
    AuditJournal,
    Clock,
    MembershipRepository,
    PscLogin,
    PscLoginStore,
    PscProvider,
    RequestMeta,
    SessionTokenIssuer,
)
from chalicelib.services.access import audit

# CIBA Core §7.3 / RFC 8628 §3.5: each slow_down adds 5 s to the interval.
SLOW_DOWN_STEP_SECONDS = 5
# Binding messages: short, unambiguous characters that read the same on both screens.
BINDING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
BINDING_LENGTH = 4
HANDLE_BYTES = 32


@dataclass(frozen=True)
class PscLoginDeps:
    provider: PscProvider
    logins: PscLoginStore
    memberships: MembershipRepository
    issuer: SessionTokenIssuer
    journal: AuditJournal
    clock: Clock


def _digest(handle: str) -> str:
    return hashlib.sha256(handle.encode("utf-8")).hexdigest()


def _actor(username: str, finess: str | None) -> Principal:
    return Principal(username=username, role=Role.PHARMACIST, finess=finess)


def start_login(deps: PscLoginDeps, meta: RequestMeta, body: Any) -> LoginStarted:
    national_id = parse_login_request(body)
    username = psc_username(national_id)
    membership = deps.memberships.get(username)
    if membership is None or membership.national_id is None or membership.finess is None:
        audit(
            deps.journal, None, meta, "psc_login_start", outcome="denied", reason=f"not invited: {username}"
        )
        raise UnknownIdentifier(
            "No pharmacy has invited this national identifier; ask your pharmacy's admin."
        )
    binding_message = "".join(secrets.choice(BINDING_ALPHABET) for _ in range(BINDING_LENGTH))
    try:
        request = deps.provider.authorize(national_id, binding_message)
    except UnknownIdentifier:
        audit(
            deps.journal,
            _actor(username, membership.finess),
            meta,
            "psc_login_start",
            outcome="denied",
            reason="unknown to Pro Santé Connect",
        )
        raise
    handle = secrets.token_urlsafe(HANDLE_BYTES)
    now = deps.clock.now().timestamp()
    deps.logins.add(
        PscLogin(
            handle_digest=_digest(handle),
            auth_req_id=request.auth_req_id,
            username=username,
            national_id=national_id,
            finess=membership.finess,
            expires_at=now + request.expires_in,
            interval=request.interval,
            next_poll_at=now + request.interval,
        )
    )
    audit(deps.journal, _actor(username, membership.finess), meta, "psc_login_start")
    return LoginStarted(
        login_id=handle,
        binding_message=binding_message,
        expires_in=request.expires_in,
        interval=request.interval,
    )


def _refuse(deps: PscLoginDeps, login: PscLogin, meta: RequestMeta, reason: str) -> None:
    deps.logins.remove(login.handle_digest)
    audit(
        deps.journal, _actor(login.username, login.finess), meta, "psc_login", outcome="denied", reason=reason
    )


def poll_login(deps: PscLoginDeps, meta: RequestMeta, handle: str) -> SessionGranted:
    login = deps.logins.get(_digest(handle)) if 0 < len(handle) <= 128 else None
    if login is None:
        raise UnknownLogin("No such login: start a new one.")
    now = deps.clock.now().timestamp()
    if now >= login.expires_at:
        _refuse(deps, login, meta, "expired")
        raise LoginExpired("The login request expired before it was approved; start a new one.")
    if now < login.next_poll_at:
        interval = login.interval + SLOW_DOWN_STEP_SECONDS
        deps.logins.claim_poll(login, next_poll_at=now + interval, interval=interval)
        audit(
            deps.journal,
            _actor(login.username, login.finess),
            meta,
            "psc_login_poll",
            outcome="denied",
            reason="slow_down",
        )
        raise SlowDown(f"Poll at most every {interval} seconds.", retry_after_seconds=interval)
    if not deps.logins.claim_poll(login, next_poll_at=now + login.interval, interval=login.interval):
        raise SlowDown(f"Poll at most every {login.interval} seconds.", retry_after_seconds=login.interval)
    try:
        tokens = deps.provider.poll(login.auth_req_id)
    except AuthorizationPending as pending:
        raise AuthorizationPending(pending.detail, retry_after_seconds=login.interval) from None
    except SlowDown:
        interval = login.interval + SLOW_DOWN_STEP_SECONDS
        deps.logins.claim_poll(
            replace(login, next_poll_at=now + login.interval),
            next_poll_at=now + interval,
            interval=interval,
        )
        audit(
            deps.journal,
            _actor(login.username, login.finess),
            meta,
            "psc_login_poll",
            outcome="denied",
            reason="slow_down",
        )
        raise SlowDown(f"Poll at most every {interval} seconds.", retry_after_seconds=interval) from None
    except (LoginExpired, AccessDenied) as ended:
        _refuse(deps, login, meta, ended.error_code)
        raise
    return _complete(deps, login, meta, tokens)


def _complete(
    deps: PscLoginDeps, login: PscLogin, meta: RequestMeta, tokens: dict[str, Any]
) -> SessionGranted:
    try:
        practice = read_practice(deps.provider.verified_userinfo(tokens))
        # Read again now: a membership revoked (or moved) since the login started counts.
        membership = deps.memberships.get(login.username)
        if membership is None or membership.national_id != login.national_id or membership.finess is None:
            raise PscRefused(
                "membership revoked", "No pharmacy has invited this national identifier any more."
            )
        check_practice(practice, national_id=login.national_id, finess=membership.finess)
    except PscRefused as refused:
        _refuse(deps, login, meta, refused.reason)
        raise
    deps.logins.remove(login.handle_digest)
    token, lifetime = deps.issuer.issue(login.username)
    audit(
        deps.journal,
        Principal(username=login.username, role=membership.role, finess=membership.finess),
        meta,
        "psc_login",
    )
    return SessionGranted(access_token=token, expires_in=lifetime)
