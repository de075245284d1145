"""The domain model: pure data, no AWS, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.pharmacy_day import PARIS, local_day


class Role(StrEnum):
    PHARMACIST = "pharmacist"
    PHARMACY_ADMIN = "pharmacy_admin"
    PLATFORM_ADMIN = "platform_admin"


# Roles that may touch their own pharmacy's health records.
RECORD_ROLES = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})
# Cognito's own limit on a username (ours, Cognito's and psc-<national id>, are shorter): a longer
# one is no user of ours, and DynamoDB would refuse it as a key (2048 bytes) rather than find it missing.
USERNAME_MAX_LENGTH = 128


@dataclass(frozen=True)
class Principal:
    """The verified caller: who (from the token) and what they may do (from our membership table)."""

    username: str
    role: Role
    finess: str | None  # None for platform admins
    client_id: str = ""


class Sex(StrEnum):
    F = "F"
    M = "M"


class ScreeningKind(StrEnum):
    ANTIGEN = "antigen"


class ScreeningResult(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INVALID = "invalid"


class RecordStatus(StrEnum):
    PENDING = "pending"  # no result yet
    READY = "ready"  # result known, waiting for the export
    SENT = "sent"  # handed to SI-DEP, no acknowledgement yet
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    """Finer than RecordStatus: what the exporter knows about one record."""

    PENDING = "pending"
    READY = "ready"
    LEASED = "leased"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    FAILED = "failed"  # dead letter: retries exhausted
    CANCELLED = "cancelled"  # cancelled before it was ever sent: nothing to send


class MessageKind(StrEnum):
    """OBX-11 result status of the next message to send for a record."""

    FINAL = "F"
    CORRECTION = "C"
    WITHDRAWAL = "W"


@dataclass(frozen=True)
class Address:
    line: str
    postal_code: str
    city: str


@dataclass(frozen=True)
class Patient:
    """Everything that identifies or contacts a patient: encrypted as one blob at rest."""

    nir: str  # normalised: 15 characters, no spaces
    last_name: str
    first_name: str
    birth_date: date
    sex: Sex
    email: str | None = None
    phone: str | None = None  # E.164
    address: Address | None = None
    # INS traits, when the pharmacist recorded them (chalicelib/domain/identity.py)
    birth_last_name: str | None = None  # nom de naissance, beside the used last_name
    birth_first_names: str | None = None  # first names as on the birth record, space-separated
    birth_place: str | None = None  # INSEE code of the birth commune, or 99xxx for a country
    identity_document: IdentityDocument | None = None  # seen at the counter (none: NONE)
    # derived by the service from what was checked, never taken from the client
    identity_status: IdentityStatus = IdentityStatus.PROVISIONAL


@dataclass(frozen=True)
class ScreeningTest:
    kind: ScreeningKind
    device_id: str
    sampled_at: datetime  # timezone-aware
    result: ScreeningResult | None = None
    # When the pharmacist entered the record on the device (a campaign captured offline), as the
    # device's clock said; the server's receipt is the record's created_at. Not personal data.
    captured_at: datetime | None = None


@dataclass(frozen=True)
class Submission:
    """A validated POST /v1/tests body."""

    patient: Patient
    test: ScreeningTest


@dataclass(frozen=True)
class DeliveryEvent:
    at: datetime
    event: str  # leased, sent, acknowledged, rejected, retry, failed, ...
    detail: str = ""


@dataclass
class Delivery:
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    last_error: str | None = None
    acknowledged_at: datetime | None = None
    next_attempt_at: datetime | None = None
    # version of the record last acknowledged by SI-DEP (0: never)
    acknowledged_version: int = 0
    pending_message: MessageKind | None = None
    history: list[DeliveryEvent] = field(default_factory=list)
    # When a message for this record first left for SI-DEP (None: never). A monotonic fact: set by
    # the lease, never cleared (chalicelib/domain/delivery.py `already_sent`).
    first_sent_at: datetime | None = None


@dataclass
class ScreeningRecord:
    id: str
    finess: str
    patient: Patient | None  # None once erased by retention
    test: ScreeningTest
    status: RecordStatus
    created_at: datetime
    updated_at: datetime
    created_by: str
    version: int = 1
    delivery: Delivery = field(default_factory=Delivery)
    # the pharmacy's time zone (chalicelib/domain/pharmacy_day.py), fixed when the record is created
    time_zone: str = PARIS

    @property
    def day(self) -> date:
        """The pharmacy's calendar day of the sampling: the record's list and statistics day."""
        return local_day(self.test.sampled_at, self.time_zone)
