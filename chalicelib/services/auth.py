"""Authentication: a verified token plus our own membership table make a Principal.

The role and pharmacy come from the membership, never from the token or the request, so
revoking a member takes effect on their next request even while their token is still valid.
"""

from __future__ import annotations

from chalicelib.domain.errors import Forbidden, Unauthenticated
from chalicelib.domain.model import Principal
from chalicelib.services.access import audit
from chalicelib.services.ports import AuditJournal, MembershipRepository, RequestMeta, TokenVerifier


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
) -> Principal:
    """Every refusal is journaled with its reason (never the token) before it is raised."""
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
    return Principal(username=username, role=membership.role, finess=membership.finess, client_id=client_id)
