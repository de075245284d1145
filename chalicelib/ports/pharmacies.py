"""Pharmacies and their members: memberships, the pharmacies, the identity provider's users and
the national directory of professionals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.model import Role
from chalicelib.domain.psc import Practice
from chalicelib.ports.changes import Change


@dataclass(frozen=True)
class Membership:
    username: str
    role: Role
    finess: str | None
    # Set for a professional who logs in with Pro Santé Connect (never with Cognito).
    national_id: str | None = None
    # Epoch seconds: access tokens issued before it are refused (set at creation, by a logout, by
    # the identity provider's sign-out or disable).
    tokens_not_before: int | None = None


@dataclass(frozen=True)
class PharmacyMember:
    """A membership as its pharmacy's admins see it: who invited whom, and when."""

    membership: Membership
    invited_at: str  # RFC 3339, UTC
    invited_by: str


@dataclass(frozen=True)
class PharmacyEntry:
    """A pharmacy as stored at onboarding, with its settings (no member, no health data)."""

    finess: str
    name: str
    time_zone: str
    onboarded_at: str  # RFC 3339, UTC
    psc_required: bool
    opening_hours: Mapping[str, Sequence[str]] | None = None  # declared (domain/opening_hours.py)


class MembershipRepository(Protocol):
    def get(self, username: str) -> Membership | None: ...

    def members_of(self, finess: str, *, username: str | None = None) -> list[PharmacyMember]:
        """The pharmacy's members by username (`username`: that one only), read by the pharmacy's
        key (an index query, never a scan)."""
        ...

    def count_members(self, finess: str) -> int:
        """How many members the pharmacy has (an index query that counts)."""
        ...

    def add(self, membership: Membership, *, created_by: str) -> None: ...

    def has_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        """Whether the pharmacy has a pharmacy_admin (`other_than`: besides this username)."""
        ...

    def add_first_admin_change(self, membership: Membership, *, created_by: str) -> Change:
        """Add the pharmacy's first pharmacy_admin, invited by the platform, and mark the pharmacy
        so that the platform invites no other (until a move takes its last admin, move_change);
        Conflict if it already did."""
        ...

    def revoke_change(self, membership: Membership, *, by: str) -> Change:
        """Remove `membership` if `by` is still a pharmacy_admin of its pharmacy (so a pharmacy
        always keeps one: `by` is not the member revoked); Conflict if not, NotFound if gone."""
        ...

    def end_sessions(self, username: str, *, not_before: int) -> None:
        """Refuse the user's access tokens issued before `not_before` (epoch seconds)."""
        ...

    def add_change(self, membership: Membership, *, created_by: str) -> Change:
        """Add a member who belongs to no pharmacy yet (Conflict otherwise)."""
        ...

    def has_psc_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        """Whether the pharmacy has a pharmacy_admin who logs in with Pro Santé Connect (besides
        `other_than`)."""
        ...

    def move_change(
        self,
        current: Membership,
        membership: Membership,
        *,
        created_by: str,
        first_admin: bool = False,
        leaves_no_admin: bool = False,
    ) -> Change:
        """Replace `current` (a PSC professional's membership elsewhere) by `membership`, if `current`
        is still what is stored; Conflict otherwise. `first_admin`: as add_first_admin_change, the
        pharmacy is marked in the same transaction (Conflict if the platform already invited one).
        `leaves_no_admin`: `current` was its pharmacy's last pharmacy_admin, whose mark is removed in
        the same transaction, so that the platform may invite that pharmacy's next first admin."""
        ...


class ProfessionalDirectory(Protocol):
    """The national directory of health professionals (RPPS), as Pro Santé Connect vouches for it:
    what it lists for one national identifier, read when a pharmacy invites a professional."""

    def practice(self, national_id: str) -> Practice | None:
        """What the directory lists (None: it knows no such professional); ServiceUnavailable if
        it cannot answer."""
        ...


class PharmacyRepository(Protocol):
    def add(self, finess: str, name: str, *, time_zone: str | None = None, created_by: str) -> None:
        """Conflict if it exists. No time zone: the FINESS département's."""
        ...

    def add_change(self, finess: str, name: str, *, time_zone: str | None = None, created_by: str) -> Change:
        """`add` as a Change for the journal's transaction."""
        ...

    def exists(self, finess: str) -> bool: ...

    def entry(self, finess: str) -> PharmacyEntry | None:
        """The pharmacy as onboarded, with its settings (None if unknown)."""
        ...

    def entries(self) -> list[PharmacyEntry]:
        """Every onboarded pharmacy, by FINESS."""
        ...

    def psc_required(self, finess: str) -> bool:
        """Whether the pharmacy's pharmacists must log in with Pro Santé Connect (False if unknown)."""
        ...

    def set_psc_required_change(self, finess: str, required: bool, *, changed_by: str) -> Change:
        """NotFound if the pharmacy is gone."""
        ...

    def set_opening_hours_change(
        self,
        finess: str,
        hours: Mapping[str, Sequence[str]] | None,
        *,
        changed_by: str,
        psc_required: bool | None = None,
    ) -> Change:
        """Its declared hours (None: none), and psc_required with them unless None: one write of the
        pharmacy's item (a transaction writes an item once). NotFound if the pharmacy is gone."""
        ...


class PharmacyZones(Protocol):
    """A pharmacy's time zone (IANA name), fixed at onboarding."""

    def time_zone(self, finess: str) -> str: ...


class UserDirectory(Protocol):
    """The identity provider's admin side (Cognito)."""

    def invite(self, email: str) -> str:
        """Create the user with an expiring temporary password sent by e-mail; returns username."""
        ...

    def sign_out_everywhere(self, username: str) -> None: ...

    def invitation(self, username: str) -> CognitoInvitation | None:
        """The user's e-mail (as the admin entered it) and whether they still have to set their
        password (None: no such user)."""
        ...

    def resend_invitation(self, username: str) -> None:
        """Send the invitation again, with a new temporary password (a pending user only)."""
        ...


@dataclass(frozen=True)
class CognitoInvitation:
    email: str | None
    pending: bool  # not yet logged in to set a password: the invitation is not accepted


class UserLookup(Protocol):
    def username_of(self, sub: str) -> str | None:
        """The username of the identity provider's user whose `sub` this is, or None."""
        ...
