"""What a request asks a use case to do, once its view has parsed it (chalicelib/payloads.py).

A view turns a body into one of these with the payload's parser (errors name the field, echo no
value), then hands it to one use case with the Call (chalicelib/services/call.py): the use cases see
typed values only, never a body. The queries of the listing routes are their parsers' own types
(payloads.ListQuery, payloads.AuditQuery, domain/stats.StatsQuery).

An id from the path (a record's, a pharmacy's, a member's) stays as sent: it names something to
look up, and one that names nothing is the use case's 404, journaled like another pharmacy's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.errors import FieldError
from chalicelib.domain.model import Role, ScreeningResult, Submission


def canonical_json(body: object) -> bytes:
    """One byte string per JSON value, whatever its key order and spacing: what an idempotent
    replay's body is compared by."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class CreateRecord:
    """POST /v1/tests. `idempotency_key` (the Idempotency-Key header, a lower-case UUID) makes a
    retry answer the record it created; `body` (canonical_json of the body as sent) is what the
    retry must repeat."""

    submission: Submission
    idempotency_key: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class BatchItem:
    """One item of POST /v1/test-batches, at `index`: a valid one has its `submission` and `body`
    (canonical_json of the item without its key: what a replay must repeat), an invalid one its
    `errors` (JSON pointers into the batch). `key` is the item's idempotency key, when it is one."""

    index: int
    key: str | None
    submission: Submission | None
    errors: tuple[FieldError, ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class CreateBatch:
    """POST /v1/test-batches: its items in the order sent."""

    items: tuple[BatchItem, ...]


@dataclass(frozen=True)
class SetResult:
    """PUT /v1/tests/{id}/result: None sets the record back to pending."""

    record_id: str
    result: ScreeningResult | None


@dataclass(frozen=True)
class OnboardPharmacy:
    """POST /v1/admin/pharmacies: the time zone is the FINESS département's when not given."""

    finess: str
    name: str
    time_zone: str


@dataclass(frozen=True)
class InviteMember:
    """POST /v1/admin/pharmacies/{finess}/members: exactly one of `email` (a Cognito invitation)
    and `national_id` (a Pro Santé Connect professional)."""

    finess: str
    role: Role
    email: str | None = None
    national_id: str | None = None


@dataclass(frozen=True)
class RevokeMember:
    """DELETE /v1/admin/pharmacies/{finess}/members/{username}."""

    finess: str
    username: str


@dataclass(frozen=True)
class ReadTeam:
    """GET /v1/admin/pharmacies/{finess}/members."""

    finess: str


@dataclass(frozen=True)
class ReadMember:
    """GET /v1/admin/pharmacies/{finess}/members/{username}."""

    finess: str
    username: str


@dataclass(frozen=True)
class ResendInvitation:
    """POST /v1/admin/pharmacies/{finess}/members/{username}/invitation."""

    finess: str
    username: str


@dataclass(frozen=True)
class ReadPharmacySettings:
    """GET /v1/admin/pharmacies/{finess}/settings."""

    finess: str


@dataclass(frozen=True)
class ListPharmacies:
    """GET /v1/admin/pharmacies (the platform's pharmacies; nothing to choose)."""


@dataclass(frozen=True)
class ChangePharmacySettings:
    """PUT /v1/admin/pharmacies/{finess}/settings: what the body names changes, nothing else."""

    finess: str
    psc_required: bool | None  # None: unchanged
    opening_hours: Mapping[str, Sequence[str]] | None = None  # per weekday (domain/opening_hours.py)
    opening_hours_given: bool = False  # sent: set (or, null, cleared)


@dataclass(frozen=True)
class ReadAlerts:
    """GET /v1/admin/pharmacies/{finess}/alerts: newest first, the unacknowledged ones only unless
    `include_acknowledged`."""

    finess: str
    include_acknowledged: bool
    limit: int


@dataclass(frozen=True)
class AcknowledgeAlert:
    """POST /v1/admin/pharmacies/{finess}/alerts/{alert_id}/acknowledgement."""

    finess: str
    alert_id: str


@dataclass(frozen=True)
class PatientQuery:
    """POST /v1/patients/search and /v1/patients/erasure: the patient's normalised NIR (in a body,
    never a URL)."""

    nir: str


@dataclass(frozen=True)
class StartLogin:
    """POST /v1/psc/logins: the professional's national identifier (an RPPS number made one)."""

    national_id: str
