"""Pro Santé Connect login for the mobile app, through this server (CIBA in poll mode).

1. `start_login`: the app names a national identifier. At most a few starts per identifier and
   per source address per window (else 429 with Retry-After). If a pharmacy invited it, we post
   the backchannel authentication request to PSC with a binding message (a short code shown on
   the app and in the e-CPS push: the professional approves only the push showing their app's
   code), store the login and give the app an opaque handle. Every start answers the same shape,
   invited or not: an identifier that leads nowhere gets a handle too, and no push is sent.
2. `poll_login`: the app polls with its handle; we poll PSC's token endpoint at most once per
   interval (earlier is `slow_down`), relay pending / expired / not approved, and on approval
   verify the ID token and userinfo (pharmacist, practising at the member's pharmacy), then issue
   our own short-lived access token, valid at that pharmacy only. A login that leads nowhere
   answers as a push the professional declined or left unanswered would.

What tells a member from a stranger is masked at each step: the same answer, interval and expiry
(PscTerms), and about the same time (PscLatency: a start, a poll, a login's end, each padded to
what a member's takes in this process), with refusals tallied per source as the limit counts it.

Refusals of a member's login are journaled on their pharmacy's chain with a fixed reason (bounded
by the per-identifier limit); refusals that concern no member (ids that lead nowhere, limits,
early polls) are aggregated per source and window like every unauthenticated refusal
(services/refusals.py), without the identifier. Nothing PSC or the caller sent is echoed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.domain.commands import StartLogin
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.outcomes import LoginStarted, SessionGranted
from chalicelib.domain.psc import (
    BINDING_ALPHABET,
    BINDING_LENGTH,
    NOT_APPROVED,
    AccessDenied,
    AuthorizationPending,
    CibaProblem,
    LoginExpired,
    PscLoginPolicy,
    PscRefused,
    SlowDown,
    TooManyStarts,
    UnknownIdentifier,
    UnknownLogin,
    check_practice,
    psc_username,
    read_practice,
)
from chalicelib.domain.sources import source_of as source_of  # the start limit counts by it too
from chalicelib.ports import (
    AuditJournal,
    Clock,
    MembershipRepository,
    PscLogin,
    PscLoginStore,
    PscProvider,
    PscStartLimits,
    RequestMeta,
    SessionTokenIssuer,
)
from chalicelib.services.call import Audit
from chalicelib.services.refusals import UnauthenticatedRefusals

# CIBA Core §7.3 / RFC 8628 §3.5: each slow_down adds 5 s to the interval.
SLOW_DOWN_STEP_SECONDS = 5
HANDLE_BYTES = 32
# The aggregated refusal (services/refusals.py) of a start that sent no push, whatever the cause
# (an identifier nobody invited, one PSC does not know, a limit): one tally per source and window.
NO_PUSH = "no push sent"


_RANDOM = secrets.SystemRandom()


# What a start that sends a push is assumed to take until this process has timed one (PSC's
# backchannel answer, a DynamoDB write and a journal append): without it, a process that never sent
# a push would answer a start that leads nowhere at once.
ASSUMED_PUSH_START_SECONDS = 0.5
# The same for a poll of a login that sent a push (PSC's token endpoint), until one was timed.
ASSUMED_TOKEN_POLL_SECONDS = 0.2
# And for the end of a member's login that was not approved (its event on their pharmacy's chain).
ASSUMED_REFUSAL_SECONDS = 0.1


@dataclass
class PscLatency:
    """How long a start that sends a push takes in this process (a moving average of PSC's
    backchannel request, storing the login and journaling the start): a start that sends no push
    waits until it has taken about as long, so that its answer time does not tell invited
    identifiers from others. ASSUMED_PUSH_START_SECONDS until a first such start was timed (that
    first measure then replaces it)."""

    seconds: float = ASSUMED_PUSH_START_SECONDS
    weight: float = 0.2
    measured: bool = False

    def record(self, seconds: float) -> None:
        self.seconds = self.seconds + self.weight * (seconds - self.seconds) if self.measured else seconds
        self.measured = True


@dataclass
class PscTerms:
    """The interval and expiry PSC gave this process's last push, when they are stricter than the
    policy's: every start, one that leads nowhere included, answers and keeps them, so that they do
    not tell a member's login from a stranger's."""

    interval: int = 0
    expires_in: int | None = None

    def apply(self, policy: PscLoginPolicy) -> tuple[int, int]:
        """(expires_in, interval) for a start."""
        expires_in = policy.expires_in_seconds
        if self.expires_in is not None:
            expires_in = min(expires_in, self.expires_in)
        return expires_in, max(policy.interval_seconds, self.interval)


@dataclass(frozen=True)
class PscLoginDeps:
    provider: PscProvider
    logins: PscLoginStore
    memberships: MembershipRepository
    issuer: SessionTokenIssuer
    journal: AuditJournal
    clock: Clock
    limits: PscStartLimits
    refusals: UnauthenticatedRefusals
    policy: PscLoginPolicy = field(default_factory=PscLoginPolicy)
    random: Callable[[], float] = field(default=_RANDOM.random)
    latency: PscLatency = field(default_factory=PscLatency)
    terms: PscTerms = field(default_factory=PscTerms)
    # A poll of a login that sent a push asks PSC's token endpoint; one that leads nowhere waits
    # about as long (the same masking as the start's, per poll).
    poll_latency: PscLatency = field(default_factory=lambda: PscLatency(ASSUMED_TOKEN_POLL_SECONDS))
    # A member's login that ends unapproved journals on their pharmacy's chain; one that leads
    # nowhere, at most an aggregated refusal: it waits about as long.
    refusal_latency: PscLatency = field(default_factory=lambda: PscLatency(ASSUMED_REFUSAL_SECONDS))
    monotonic: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _actor(username: str, finess: str | None) -> Principal:
    return Principal(username=username, role=Role.PHARMACIST, finess=finess)


def binding_message() -> str:
    return "".join(secrets.choice(BINDING_ALPHABET) for _ in range(BINDING_LENGTH))


def _refusal(deps: PscLoginDeps, meta: RequestMeta, action: str, reason: str) -> None:
    """An aggregated refusal (services/refusals.py), tallied per source as the start limit counts
    it (`source_of`, the aggregator's own)."""
    deps.refusals.refuse(meta, action, reason)


def _check_limits(deps: PscLoginDeps, meta: RequestMeta, national_id: str, now: float) -> None:
    """Count this start per source, then per identifier (a digest: the table holds no identifier for
    it); TooManyStarts past either limit. The same for every identifier, invited or not."""
    policy = deps.policy
    window_end = int(now) - int(now) % policy.window_seconds + policy.window_seconds
    for key, limit in (
        (f"source:{source_of(meta.source_ip)}", policy.starts_per_source),
        (f"id:{_digest(national_id)}", policy.starts_per_identifier),
    ):
        if deps.limits.count(key, window_end=window_end) > limit:
            _refusal(deps, meta, "psc_login_start", NO_PUSH)
            raise TooManyStarts(
                "Too many logins started; retry after Retry-After seconds.",
                retry_after_seconds=max(1, window_end - int(now)),
            )


def start_login(deps: PscLoginDeps, meta: RequestMeta, command: StartLogin) -> LoginStarted:
    national_id = command.national_id
    policy = deps.policy
    now = deps.clock.now().timestamp()
    _check_limits(deps, meta, national_id, now)
    # Timed from here to the answer, journal included: a start that sends a push also appends the
    # member's event to their pharmacy's chain, one that leads nowhere at most an aggregated
    # refusal; the second waits for the rest of the first's time (PscLatency).
    began = deps.monotonic()
    username = psc_username(national_id)
    membership = deps.memberships.get(username)
    code = binding_message()
    request = None
    if membership is not None and membership.national_id is not None and membership.finess is not None:
        try:
            request = deps.provider.authorize(national_id, code)
        except UnknownIdentifier:
            request = None
    handle = secrets.token_urlsafe(HANDLE_BYTES)
    if request is not None:
        deps.terms.interval, deps.terms.expires_in = request.interval, request.expires_in
    expires_in, interval = deps.terms.apply(policy)
    if request is None or membership is None or membership.finess is None:
        _refusal(deps, meta, "psc_login_start", NO_PUSH)
        declined = deps.random() < policy.declined_share
        low, high = policy.declined_after_seconds
        refuse_at = now + low + (high - low) * deps.random() if declined else None
        deps.logins.add(
            PscLogin(
                handle_digest=_digest(handle),
                auth_req_id="",
                # nothing of the identifier: its polls never read it, and it may be a stranger's
                username="",
                national_id="",
                finess=membership.finess if membership is not None and membership.finess else "",
                expires_at=now + expires_in,
                interval=interval,
                next_poll_at=now + interval,
                refuse_at=refuse_at,
            )
        )
        _pad(deps, deps.latency, began)
    else:
        login = PscLogin(
            handle_digest=_digest(handle),
            auth_req_id=request.auth_req_id,
            username=username,
            national_id=national_id,
            finess=membership.finess,
            expires_at=now + expires_in,
            interval=interval,
            next_poll_at=now + interval,
        )
        deps.logins.add(login)
        Audit(deps.journal, meta, _actor(username, login.finess)).record("psc_login_start")
        deps.latency.record(deps.monotonic() - began)
    return LoginStarted(login_id=handle, binding_message=code, expires_in=expires_in, interval=interval)


def _pad(deps: PscLoginDeps, latency: PscLatency, began: float) -> None:
    """Wait until about `latency` (±20 %) has passed since `began` (deps.monotonic)."""
    target = latency.seconds * (0.8 + 0.4 * deps.random())
    deps.sleep(max(0.0, target - (deps.monotonic() - began)))


def _refuse(deps: PscLoginDeps, login: PscLogin, meta: RequestMeta, reason: str) -> None:
    began = deps.monotonic()
    deps.logins.remove(login.handle_digest)
    if login.leads_nowhere:
        _refusal(deps, meta, "psc_login", NO_PUSH)
        _pad(deps, deps.refusal_latency, began)
        return
    Audit(deps.journal, meta, _actor(login.username, login.finess)).deny("psc_login", reason)
    deps.refusal_latency.record(deps.monotonic() - began)


def _slow_down(deps: PscLoginDeps, meta: RequestMeta, interval: int) -> SlowDown:
    _refusal(deps, meta, "psc_login_poll", "slow_down")
    return SlowDown(f"Poll at most every {interval} seconds.", retry_after_seconds=interval)


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
        raise _slow_down(deps, meta, interval)
    if not deps.logins.claim_poll(login, next_poll_at=now + login.interval, interval=login.interval):
        raise SlowDown(f"Poll at most every {login.interval} seconds.", retry_after_seconds=login.interval)
    began = deps.monotonic()
    if login.leads_nowhere:
        raise _nowhere(deps, login, meta, now, began)
    tokens = _psc_tokens(deps, login, meta, now, began)
    return _complete(deps, replace(login, next_poll_at=now + login.interval), meta, tokens)


def _nowhere(deps: PscLoginDeps, login: PscLogin, meta: RequestMeta, now: float, began: float) -> CibaProblem:
    """The answer to a claimed poll of a login that leads nowhere: what a member's would be while
    they leave the push unanswered, then decline it (its refuse_at)."""
    _pad(deps, deps.poll_latency, began)  # what asking PSC's token endpoint would take
    if login.refuse_at is not None and now >= login.refuse_at:
        _refuse(deps, login, meta, "access_denied")
        return AccessDenied(NOT_APPROVED)
    return AuthorizationPending(
        "Approve the request in your e-CPS app, then poll again.", retry_after_seconds=login.interval
    )


def _psc_tokens(
    deps: PscLoginDeps, login: PscLogin, meta: RequestMeta, now: float, began: float
) -> dict[str, Any]:
    """PSC's token endpoint's answer to a claimed poll; its refusals relayed (the member's journaled)."""
    try:
        return deps.provider.poll(login.auth_req_id)
    except AuthorizationPending as pending:
        deps.poll_latency.record(deps.monotonic() - began)
        raise AuthorizationPending(pending.detail, retry_after_seconds=login.interval) from None
    except SlowDown:
        interval = login.interval + SLOW_DOWN_STEP_SECONDS
        deps.logins.claim_poll(
            replace(login, next_poll_at=now + login.interval),
            next_poll_at=now + interval,
            interval=interval,
        )
        raise _slow_down(deps, meta, interval) from None
    except LoginExpired as expired:
        _refuse(deps, login, meta, expired.error_code)
        raise
    except AccessDenied as declined:
        _refuse(deps, login, meta, declined.error_code)
        raise AccessDenied(NOT_APPROVED) from None


def _complete(
    deps: PscLoginDeps, login: PscLogin, meta: RequestMeta, tokens: dict[str, Any]
) -> SessionGranted:
    """`login` as this poll claimed it (its next_poll_at)."""
    try:
        practice = read_practice(deps.provider.verified_userinfo(tokens))
        # Read again now: a membership revoked (or moved) since the login started counts.
        membership = deps.memberships.get(login.username)
        if (
            membership is None
            or membership.national_id != login.national_id
            or membership.finess is None
            or membership.finess != login.finess
        ):
            raise PscRefused(
                "membership revoked", "No pharmacy has invited this national identifier any more."
            )
        check_practice(practice, national_id=login.national_id, finess=membership.finess)
    except PscRefused as refused:
        _refuse(deps, login, meta, refused.reason)
        raise
    # One handle, one session: claim the completion, so that a poll that got PSC's answer again
    # meanwhile (while this one verified userinfo) cannot complete it a second time.
    if not deps.logins.claim_poll(login, next_poll_at=login.expires_at, interval=login.interval):
        raise UnknownLogin("No such login: start a new one.")
    deps.logins.remove(login.handle_digest)
    # The token names the pharmacy PSC vouched for: it is valid there only (services/auth.py).
    token, lifetime = deps.issuer.issue(login.username, membership.finess)
    member = Principal(username=login.username, role=membership.role, finess=membership.finess)
    Audit(deps.journal, meta, member).record("psc_login")
    return SessionGranted(access_token=token, expires_in=lifetime)
