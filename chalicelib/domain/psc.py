"""Pro Santé Connect, the pure part: national identifiers and what userinfo must show.

PSC's userinfo (public documentation; see docs/psc.md) carries the
professional's national identifier (`SubjectNameID`) and their practice (`SubjectRefPro.exercices[]`: a
profession code, and `activities[]` naming the structures where they practise with the
structure's identifiers). A pharmacist is profession code 21 (the RPPS nomenclature).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import DomainError, Forbidden

PHARMACIST_PROFESSION = "21"
# The level of assurance health data needs (eIDAS "substantial"); PSC's `acr_values`.
REQUIRED_ACR = "eidas1"
# RPPS numbers are 11 digits; PSC's national identifier for an RPPS professional is "8" + RPPS.
RPPS_PREFIX = "8"
_RPPS = re.compile(r"[0-9]{11}")
# National identifiers: RPPS ("8" + 11 digits), ADELI-based ("0" + ...), and the sandbox's test
# identities (letters and digits). Upper-cased, 10 to 20 characters.
_NATIONAL_ID = re.compile(r"[0-9A-Z]{10,20}")
# Where a structure's FINESS may appear in an activity (geographic site, legal entity).
FINESS_FIELDS: tuple[str, ...] = ("numeroFinessSite", "numeroFinessetablissementJuridique")
# The membership of a PSC professional is keyed by this, so a login finds it in one read.
PSC_USERNAME_PREFIX = "psc-"
# The client id our session issuer names in the tokens of a PSC login (adapters/session_tokens.py).
PSC_SESSION_CLIENT_ID = "depistage-psc"
# The claim of our session token that names the pharmacy (FINESS) PSC vouched for: the token is
# valid there only, whatever memberships the professional holds or gets later.
SESSION_FINESS_CLAIM = "finess"
# The binding message (CIBA Core §7.1): a short code the app shows and the e-CPS push shows; the
# professional approves only a push whose code is the one on their screen. Characters that read
# the same on both screens (no 0/O, 1/I).
BINDING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # pragma: allowlist secret
BINDING_LENGTH = 6
# One answer for a login that was not approved, whether the professional declined it or it led
# nowhere (an identifier nobody invited, or one PSC does not know): the poll tells nothing more.
NOT_APPROVED = (
    "The login was not approved on the e-CPS. If no request with this code reached your e-CPS, "
    "check the identifier, and ask your pharmacy's admin whether you are invited."
)


@dataclass(frozen=True)
class PscLoginPolicy:
    """What every start answers, and how often one may start.

    The app is told `interval` and `expires_in` from here, not PSC's own values, so that a login
    that leads nowhere answers exactly as a live one (PSC's interval, if longer, still wins; its
    expiry, if shorter, too, for every start after the process's first push: keep these at or
    inside PSC's).
    """

    window_seconds: int = 300
    starts_per_identifier: int = 3  # pushes one professional can receive per window
    starts_per_source: int = 20  # a pharmacy's staff behind one address at the start of a shift
    interval_seconds: int = 5  # CIBA Core §7.3's default
    expires_in_seconds: int = 120
    # A login that leads nowhere: "not approved" after a delay a human takes to decline a push
    # (uniform in this range), or, in the other half of cases, left to expire as an unanswered push.
    declined_after_seconds: tuple[int, int] = (10, 40)
    declined_share: float = 0.5


class PscRefused(Forbidden):
    """PSC vouched for someone we must not let in; `reason` is a fixed code for the journal."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class CibaProblem(DomainError):
    """A CIBA state the app must act on, with the OAuth error code it has at PSC (`error`): a fact
    of the protocol, which a client library acts on; its HTTP status is the edge's."""

    error_code = "invalid_request"

    def __init__(self, detail: str = "", retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class AuthorizationPending(CibaProblem):
    error_code = "authorization_pending"


class SlowDown(CibaProblem):
    error_code = "slow_down"


class LoginExpired(CibaProblem):
    error_code = "expired_token"


class AccessDenied(CibaProblem):
    error_code = "access_denied"


class UnknownIdentifier(CibaProblem):
    error_code = "unknown_user_id"


class UnknownLogin(CibaProblem):
    error_code = "invalid_grant"


class TooManyStarts(CibaProblem):
    """Too many logins started for this identifier, or from this source, in the current window.
    `slow_down` (RFC 8628 §3.5): the client's cue to wait, here Retry-After seconds."""

    error_code = "slow_down"


def is_national_id(value: object) -> bool:
    return isinstance(value, str) and bool(_NATIONAL_ID.fullmatch(value))


def is_rpps(value: object) -> bool:
    return isinstance(value, str) and bool(_RPPS.fullmatch(value))


def national_id_of_rpps(rpps: str) -> str:
    return RPPS_PREFIX + rpps


def psc_username(national_id: str) -> str:
    """The membership key of a PSC professional (lower-case, as every username is stored)."""
    return f"{PSC_USERNAME_PREFIX}{national_id}".lower()


@dataclass(frozen=True)
class Practice:
    """What the directory says about one professional, reduced to what we decide on."""

    national_id: str
    professions: frozenset[str]
    # FINESS numbers of the structures where a pharmacist (profession 21) practises
    pharmacist_finess: frozenset[str]


def normalised_code(value: object) -> str:
    """A code or identifier as we compare it (trimmed, upper-case); "" for anything not a string.
    Userinfo (read_practice) and the national directory (adapters/psc_directory.py) both read so."""
    return value.strip().upper() if isinstance(value, str) else ""


def read_practice(userinfo: Mapping[str, Any]) -> Practice:
    """Reduce a userinfo document; shapes we do not know contribute nothing (never an error)."""
    professions: set[str] = set()
    finess: set[str] = set()
    ref = userinfo.get("SubjectRefPro")
    exercices = ref.get("exercices") if isinstance(ref, Mapping) else None
    for exercice in exercices if isinstance(exercices, list) else []:
        if not isinstance(exercice, Mapping):
            continue
        code = normalised_code(exercice.get("codeProfession"))
        if code:
            professions.add(code)
        if code != PHARMACIST_PROFESSION:
            continue
        activities = exercice.get("activities")
        for activity in activities if isinstance(activities, list) else []:
            if isinstance(activity, Mapping):
                finess.update(normalised_code(activity.get(name)) for name in FINESS_FIELDS)
    finess.discard("")
    return Practice(
        national_id=normalised_code(userinfo.get("SubjectNameID")),
        professions=frozenset(professions),
        pharmacist_finess=frozenset(finess),
    )


def check_practice(practice: Practice, *, national_id: str, finess: str) -> None:
    """The directory must vouch for this pharmacist at this pharmacy, else PscRefused.

    Reasons are fixed codes and details fixed sentences: nothing from userinfo is echoed.
    """
    if practice.national_id != national_id.upper():
        raise PscRefused("userinfo names another professional", "Pro Santé Connect vouched for someone else.")
    if PHARMACIST_PROFESSION not in practice.professions:
        raise PscRefused(
            "not a pharmacist in the directory",
            "The national directory does not list you as a pharmacist (profession 21).",
        )
    if finess.upper() not in practice.pharmacist_finess:
        raise PscRefused(
            "no activity at this pharmacy in the directory",
            "The national directory does not show you practising as a pharmacist at this pharmacy.",
        )
