"""Authentication: a verified token plus our own membership table make a Principal.

The role and pharmacy come from the membership, never from the token or the request, so
revoking a member takes effect on their next request even while their token is still valid.
"""

from __future__ import annotations

from chalicelib.domain.errors import Forbidden, Unauthenticated
from chalicelib.domain.model import Principal, Role
from chalicelib.services.access import audit
from chalicelib.services.ports import (
    AuditJournal,
    MembershipRepository,
    PharmacyRepository,
    RequestMeta,
    TokenVerifier,
)

# The client id our session issuer names in its tokens (chalicelib/adapters/session_tokens.py).
PSC_SESSION_CLIENT_ID = "depistage-psc"


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("An access token is required.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use the Bearer scheme with an access token.")
    return token.strip()


def authenticate(
    verifier: TokenVerifier,
    memberships: MembershipRepository,
    journal: AuditJournal,
    meta: RequestMeta,
    authorization: str | None,
    route: str,
    pharmacies: PharmacyRepository | None = None,
) -> Principal:
    """Every refusal is journaled with its reason (never the token) before it is raised.

    A Pro Santé Connect member's token is ours (PSC_SESSION_CLIENT_ID), a Cognito user's is
    Cognito's: a token of the other kind for a membership is refused, so that neither login can
    stand in for the other. A Cognito pharmacist of a pharmacy that requires PSC is refused.
    """
    try:
        username, client_id = verifier.verify(bearer_token(authorization))
    except Unauthenticated as refusal:
        audit(journal, None, meta, "authenticate", outcome="denied", reason=f"{refusal.detail} ({route})")
        raise
    membership = memberships.get(username)
    if membership is None:
        audit(
            journal, None, meta, "authorize", outcome="denied", reason=f"no membership: {username} ({route})"
        )
        raise Forbidden("You are not a member of any pharmacy.") from None
    via_psc = client_id == PSC_SESSION_CLIENT_ID
    if via_psc != (membership.national_id is not None):
        audit(
            journal, None, meta, "authenticate", outcome="denied", reason=f"login kind: {username} ({route})"
        )
        raise Unauthenticated("The token was issued to another application.")
    principal = Principal(
        username=username, role=membership.role, finess=membership.finess, client_id=client_id
    )
    if (
        not via_psc
        and membership.role == Role.PHARMACIST
        and membership.finess is not None
        and pharmacies is not None
        and pharmacies.psc_required(membership.finess)
    ):
        audit(journal, principal, meta, "authorize", outcome="denied", reason=f"psc required ({route})")
        raise Forbidden("Your pharmacy requires Pro Santé Connect: log in with your e-CPS.")
    return principal
