"""Sessions: verifying access tokens, and logging in with Pro Santé Connect (CIBA) to our own
session tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class VerifiedToken:
    username: str
    client_id: str
    issued_at: int  # epoch seconds: the earlier of the token's `iat` and its session's `auth_time`
    # The pharmacy a PSC session token was vouched for (its `finess` claim); None for Cognito's.
    finess: str | None = None
    # The token's own `iat` (a refreshed token is a new one), from which its age is counted
    # (services/auth.py); None when it carries none: such a token is refused.
    minted_at: int | None = None


class TokenVerifier(Protocol):
    def verify(self, token: str) -> VerifiedToken:
        """Verify a Cognito access token, or raise Unauthenticated."""
        ...


@dataclass(frozen=True)
class CibaRequest:
    """PSC's acknowledgement of a backchannel authentication request."""

    auth_req_id: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class PscLogin:
    """A login in progress: what the app's handle stands for (the handle itself is never stored)."""

    handle_digest: str
    auth_req_id: str
    username: str
    national_id: str
    finess: str
    expires_at: float  # epoch seconds
    interval: int
    next_poll_at: float  # epoch seconds: polling earlier is slow_down
    # A login that leads nowhere (no pharmacy invited the identifier, or PSC does not know it) has
    # no `auth_req_id`: no push was sent. Its polls answer as a live login's would, then "not
    # approved" from `refuse_at` (epoch seconds), or "expired" if None.
    refuse_at: float | None = None

    @property
    def leads_nowhere(self) -> bool:
        return not self.auth_req_id


class PscStartLimits(Protocol):
    """Counters of login starts per fixed window, shared by every process."""

    def count(self, key: str, *, window_end: int) -> int:
        """Add one start to `key`'s counter for the window ending at `window_end` (epoch seconds);
        the count, this one included."""
        ...


class PscLoginStore(Protocol):
    def add(self, login: PscLogin) -> None: ...

    def get(self, handle_digest: str) -> PscLogin | None: ...

    def claim_poll(self, login: PscLogin, *, next_poll_at: float, interval: int) -> bool:
        """Move next_poll_at forward if it is still login.next_poll_at; False if another poll won."""
        ...

    def remove(self, handle_digest: str) -> None: ...


class PscProvider(Protocol):
    """Pro Santé Connect, as the server in between that CIBA requires talks to it."""

    def authorize(self, national_id: str, binding_message: str) -> CibaRequest:
        """Post the backchannel authentication request; UnknownIdentifier if PSC knows no such id."""
        ...

    def poll(self, auth_req_id: str) -> dict[str, Any]:
        """The token endpoint's answer once approved (raises the CibaProblem PSC answered)."""
        ...

    def verified_userinfo(self, tokens: dict[str, Any]) -> dict[str, Any]:
        """Verify the ID token (signature, issuer, audience, acr, expiry), then read userinfo for the
        same subject; PscRefused if anything fails a check."""
        ...


class SessionTokenIssuer(Protocol):
    """Our own short-lived access tokens for PSC logins (signed by a KMS key)."""

    def issue(self, username: str, finess: str) -> tuple[str, int]:
        """(access token valid at pharmacy `finess` only, lifetime in seconds)."""
        ...
