"""What the use cases answer the API: domain values, rendered as JSON at the edge only
(from their declarations, chalicelib/payloads/responses.py), never dicts shaped for the wire."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.alerts import StoredAlert
from chalicelib.domain.errors import FieldError
from chalicelib.domain.model import Role


@dataclass(frozen=True)
class OnboardedPharmacy:
    finess: str
    name: str
    time_zone: str


@dataclass(frozen=True)
class InvitedMember:
    """A new member: by e-mail (a Cognito invitation) or by national identifier (Pro Santé Connect)."""

    username: str
    role: Role
    finess: str
    email: str | None = None
    national_id: str | None = None


@dataclass(frozen=True)
class PharmacySettings:
    finess: str
    psc_required: bool
    opening_hours: Mapping[str, Sequence[str]] | None = None


@dataclass(frozen=True)
class LoginStarted:
    """A Pro Santé Connect login waiting for the professional's approval on their e-CPS."""

    login_id: str  # the handle the client polls with (only its digest is stored)
    binding_message: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class SessionGranted:
    access_token: str
    expires_in: int


@dataclass(frozen=True)
class TeamMember:
    """A member as their pharmacy's admins see it: what the admin entered (an e-mail or a national
    identifier), never more. `invitation` is "pending" or "accepted" for a Cognito member, None for
    a Pro Santé Connect one (PSC and the national directory vouch for them at each login)."""

    username: str
    role: Role
    login: str  # "cognito" or "psc"
    invited_at: str
    invited_by: str
    invitation: str | None
    email: str | None = None
    national_id: str | None = None


@dataclass(frozen=True)
class Team:
    finess: str
    members: tuple[TeamMember, ...]


@dataclass(frozen=True)
class PharmacyOverview:
    """A pharmacy's own settings, as its admins (or the platform) read them."""

    finess: str
    name: str
    time_zone: str
    onboarded_at: str
    psc_required: bool
    opening_hours: Mapping[str, Sequence[str]] | None = None


@dataclass(frozen=True)
class PharmacySummary:
    """One pharmacy as the platform lists it: no member's name, no health data."""

    finess: str
    name: str
    time_zone: str
    onboarded_at: str
    members: int


@dataclass(frozen=True)
class PharmacyList:
    pharmacies: tuple[PharmacySummary, ...]


class ItemOutcome(StrEnum):
    CREATED = "created"  # now, or by an earlier request with the same key and body
    INVALID = "invalid"
    CONFLICT = "conflict"  # the key was used with another body


@dataclass(frozen=True)
class BatchOutcome:
    """One item's outcome in a batch answer: a created item names its record, the others their
    errors (JSON pointers into the batch, never a value)."""

    index: int
    key: str | None
    outcome: ItemOutcome
    id: str | None = None
    location: str | None = None
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class BatchResult:
    items: tuple[BatchOutcome, ...]


@dataclass(frozen=True)
class AlertList:
    """A pharmacy's alerts as its admins read them, newest first."""

    finess: str
    alerts: tuple[StoredAlert, ...]
