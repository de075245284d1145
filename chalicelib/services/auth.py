"""Authentication: a verified token plus our own membership table make a Principal.

The role and pharmacy come from the membership, never from the token or the request, so
revoking a member takes effect on their next request even while their token is still valid.
The membership also holds the time before which the user's tokens are refused: its creation
(a token is bound to the membership it was issued under, never to one created after it), a
logout, or a Cognito-side disable, deletion or sign-out (services/identity_events.py). It is read
anyway, so ending a session costs no extra round trip per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.errors import Forbidden, Unauthenticated
from chalicelib.domain.model import Principal
from chalicelib.domain.psc import PSC_SESSION_CLIENT_ID
from chalicelib.ports import (
    AuditJournal,
    Clock,
    MembershipRepository,
    PharmacyRepository,
    RequestMeta,
    TokenVerifier,
    UserDirectory,
    VerifiedToken,
)
from chalicelib.services.call import Audit, Call
from chalicelib.services.refusals import UnauthenticatedRefusals


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("An access token is required.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use the Bearer scheme with an access token.")
    return token.strip()


@dataclass(frozen=True)
class AuthDeps:
    """What the middleware's authentication reads: `pharmacies` None skips the "PSC required" check."""

    verifier: TokenVerifier
    memberships: MembershipRepository
    journal: AuditJournal
    refusals: UnauthenticatedRefusals
    clock: Clock
    max_token_age_seconds: int  # Settings.access_token_max_age_seconds
    pharmacies: PharmacyRepository | None = None


def check_token_age(token: VerifiedToken, now: datetime, max_age_seconds: int) -> None:
    """Our own limit on an access token's age, from its `iat`, whatever its `exp` says: an
    identity provider's longer lifetime (moto's 3600 s, a pool misconfigured) never lengthens it."""
    if token.minted_at is None:
        raise Unauthenticated("The token is not valid.")
    if now.timestamp() - token.minted_at > max_age_seconds:
        raise Unauthenticated("The token has expired; refresh it or log in again.")


def authenticate(deps: AuthDeps, meta: RequestMeta, authorization: str | None, route: str) -> Principal:
    """Every refusal is journaled with its reason (never the token): one without an identity per
    source and reason per window (services/refusals.py), one of a member on their chain.

    A Pro Santé Connect member's token is ours (PSC_SESSION_CLIENT_ID), a Cognito user's is
    Cognito's: a token of the other kind for a membership is refused, so that neither login can
    stand in for the other. A PSC session token is valid at the pharmacy it names only. A Cognito
    member of a pharmacy that requires PSC, admin or pharmacist, is refused.
    """
    try:
        token = deps.verifier.verify(bearer_token(authorization))
        check_token_age(token, deps.clock.now(), deps.max_token_age_seconds)
    except Unauthenticated as refusal:
        deps.refusals.refuse(meta, "authenticate", f"{refusal.detail} ({route})")
        raise
    membership = deps.memberships.get(token.username)
    if membership is None:
        deps.refusals.refuse(meta, "authorize", f"no membership: {token.username}")
        raise Forbidden("You are not a member of any pharmacy.") from None
    username, client_id = token.username, token.client_id
    via_psc = client_id == PSC_SESSION_CLIENT_ID
    anonymous = Audit(deps.journal, meta)
    if via_psc != (membership.national_id is not None):
        anonymous.deny("authenticate", f"login kind: {username} ({route})")
        raise Unauthenticated("The token was issued to another application.")
    principal = Principal(
        username=username, role=membership.role, finess=membership.finess, client_id=client_id
    )
    audit = anonymous.by(principal)
    if via_psc and (token.finess is None or token.finess != membership.finess):
        # PSC vouched for the professional at one pharmacy: a membership at another (revoked at
        # A, invited by B) does not make that session valid there.
        audit.deny("authenticate", f"session of another pharmacy ({route})")
        raise Unauthenticated("This session was opened for another pharmacy; log in again.")
    if membership.tokens_not_before is not None and token.issued_at < membership.tokens_not_before:
        audit.deny("authenticate", f"session ended ({route})")
        raise Unauthenticated("This session has ended; log in again.")
    if (
        not via_psc
        and membership.finess is not None
        and deps.pharmacies is not None
        and deps.pharmacies.psc_required(membership.finess)
    ):
        audit.deny("authorize", f"psc required ({route})")
        raise Forbidden("Your pharmacy requires Pro Santé Connect: log in with your e-CPS.")
    return principal


@dataclass(frozen=True)
class SessionDeps:
    memberships: MembershipRepository
    users: UserDirectory
    journal: AuditJournal
    clock: Clock


def not_before_after(moment: datetime) -> int:
    """The first whole second after `moment`: tokens carry whole seconds, so one issued in the
    second of a logout, before or after it, is refused (a login just after waits a second)."""
    return int(moment.timestamp()) + 1


def logout(deps: SessionDeps, call: Call) -> None:
    """End every session of the caller: Cognito revokes their refresh tokens, and their access
    tokens issued until now are refused from the next request on. Safe to retry."""
    deps.users.sign_out_everywhere(call.caller.username)
    deps.memberships.end_sessions(call.caller.username, not_before=not_before_after(deps.clock.now()))
    call.audit(deps.journal).record("logout")
