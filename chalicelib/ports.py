"""Ports: the small interfaces the services need, and the values that cross them. Adapters
implement them; tests fake them. This module imports the domain and nothing else of chalicelib
(tests/unit/test_layers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.model import MessageKind, Patient, Role, ScreeningRecord
from chalicelib.domain.psc import Practice
from chalicelib.domain.retention import RetentionFacts, RetentionPolicy
from chalicelib.domain.stats import Skeleton


class InsiUnavailable(Exception):
    """The INSi teleservice did not answer (the identity then stays at what the counter checked)."""


@dataclass(frozen=True)
class InsTraits:
    """The traits INSi searches by (référentiel INS); no NIR."""

    birth_last_name: str
    birth_first_names: str
    birth_date: date
    sex: str  # "F" | "M"
    birth_place: str  # INSEE code


class InsiTeleservice(Protocol):
    """The Assurance Maladie's INSi teleservice: search an identity by its traits, or verify that a
    NIR goes with them. Raises InsiUnavailable when it cannot answer."""

    def search(self, traits: InsTraits) -> str | None:
        """The NIR (INS matricule) of the one identity with these traits, or None."""
        ...

    def verify(self, nir: str, traits: InsTraits) -> bool:
        """Whether INSi returns this NIR with these traits."""
        ...


class NoInsi:
    """No INSi client yet (the real SOAP client is to come): every call is unavailable, so the
    counter's checks alone set the status."""

    def search(self, traits: InsTraits) -> str | None:
        raise InsiUnavailable("no INSi client is configured")

    def verify(self, nir: str, traits: InsTraits) -> bool:
        raise InsiUnavailable("no INSi client is configured")


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class PersonalDataCipher(Protocol):
    """Envelope encryption of a record's personal part, bound to (finess, record id)."""

    def encrypt(self, patient: Patient, *, finess: str, record_id: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, finess: str, record_id: str) -> Patient: ...


class BlindIndex(Protocol):
    """Keyed, per-pharmacy index of a NIR: equal within one pharmacy, unlinkable across."""

    def nir_index(self, nir: str, *, finess: str) -> str: ...

    def fingerprint(self, data: bytes, *, finess: str) -> str:
        """Keyed digest of other data (an idempotent request's body)."""
        ...


@dataclass(frozen=True)
class Page:
    items: list[ScreeningRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class Change:
    """One conditional write of a change, made in the same transaction as its audit event
    (`AuditJournal.append(event, changes)`): either both are stored, or neither."""

    write: Callable[[Any], None]  # registers the write on the adapter's transaction
    # The error to raise if a condition of the write fails, given which of its items failed (their
    # positions in the order `write` registered them).
    conflict: Callable[[Sequence[int]], Exception]


class KeyTaken(Exception):
    """An Idempotency-Key was claimed already (by a first attempt, or a concurrent retry)."""


class ChangedMeanwhile(Exception):
    """A change's condition failed: the item is no longer as read (the caller may re-read)."""


class RecordRepository(Protocol):
    def add(self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime) -> None:
        """Store a new record; raises Conflict if its id exists."""
        ...

    def get(self, finess: str, record_id: str) -> tuple[ScreeningRecord, bytes | None]:
        """The record (patient None) and its encrypted blob; NotFound if absent at that pharmacy."""
        ...

    def list_day(
        self, finess: str, day: date, *, status: str | None, limit: int, cursor: str | None
    ) -> Page: ...

    def save(self, record: ScreeningRecord, *, expected_version: int) -> None:
        """Write the record's non-personal fields if its version is still expected_version."""
        ...

    def add_change(
        self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime
    ) -> Change:
        """`add` as a Change for the journal's transaction (Conflict if the id exists)."""
        ...

    def save_change(self, record: ScreeningRecord, *, expected_version: int) -> Change:
        """`save` as a Change for the journal's transaction."""
        ...

    def find_by_nir_index(self, finess: str, nir_index: str) -> list[str]: ...


class RetentionStore(Protocol):
    """Erasure of personal data and the skeleton reads (never the personal part)."""

    def on_erase_day(self, day: date) -> Iterator[RetentionFacts]:
        """Records whose stored erase_day is `day`, each read consistently."""
        ...

    def erase_expired(self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy) -> bool:
        """Erase the blob and blind index entry, leaving the skeleton, if the record is as `facts`
        says (same version, same erase_day, no live lease, owed to SI-DEP or not as read); False if
        it changed meanwhile."""
        ...

    def hold_until(self, facts: RetentionFacts, day: date) -> bool:
        """Move the stored erase_day of a record still owed to SI-DEP to `day`, if it is as `facts`
        says and still owed; False otherwise."""
        ...

    def erase_unsent(self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy) -> bool:
        """Cancel and erase a record nothing of which was sent, if its version is still
        `record.version` and still nothing was sent; False otherwise."""
        ...

    def erase_expired_change(
        self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        """`erase_expired` as a Change for the journal's transaction (ChangedMeanwhile if it changed)."""
        ...

    def erase_unsent_change(
        self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        """`erase_unsent` as a Change for the journal's transaction (ChangedMeanwhile if it changed)."""
        ...

    def day_skeletons(self, finess: str, day: date) -> list[Skeleton]:
        """The pharmacy's records of one day (by sample day), skeleton fields only."""
        ...


@dataclass(frozen=True)
class IdempotencyEntry:
    body_mac: str
    record_id: str
    completed: bool


class IdempotencyStore(Protocol):
    def claim_change(self, finess: str, key: str, body_mac: str, record_id: str) -> Change:
        """Claim the key, completed, in the transaction that stores the record (KeyTaken if taken)."""
        ...

    def entry(self, finess: str, key: str) -> IdempotencyEntry | None: ...


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


class MembershipRepository(Protocol):
    def get(self, username: str) -> Membership | None: ...

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

    def psc_required(self, finess: str) -> bool:
        """Whether the pharmacy's pharmacists must log in with Pro Santé Connect (False if unknown)."""
        ...

    def set_psc_required_change(self, finess: str, required: bool, *, changed_by: str) -> Change:
        """NotFound if the pharmacy is gone."""
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


class UserLookup(Protocol):
    def username_of(self, sub: str) -> str | None:
        """The username of the identity provider's user whose `sub` this is, or None."""
        ...


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for the audit journal."""

    request_id: str = ""
    source_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class PublishedKey:
    """The audit key's public key, as the checkpoint function published it."""

    key_id: str
    algorithm: str
    public_key_pem: str
    fingerprint: str


class AuditJournal(Protocol):
    def append(self, event: AuditEvent, changes: Sequence[Change] = ()) -> None:
        """Durably append, with `changes` in the same transaction; raises ServiceUnavailable if it
        cannot, or the failing change's `conflict()`: then nothing at all was written."""
        ...

    def read(
        self, finess: str, *, start: datetime | None, end: datetime | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def public_key(self) -> PublishedKey | None:
        """The checkpoint signing key's public part, as published by the checkpoint function."""
        ...


@dataclass(frozen=True)
class VerifiedToken:
    username: str
    client_id: str
    issued_at: int  # epoch seconds: the earlier of the token's `iat` and its session's `auth_time`
    # The pharmacy a PSC session token was vouched for (its `finess` claim); None for Cognito's.
    finess: str | None = None


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


# ---------------------------------------------------------------------------------------------
# The SI-DEP export (chalicelib/services/export.py)


@dataclass(frozen=True)
class Outbound:
    """One record version's message to send."""

    record: ScreeningRecord
    patient: Patient
    kind: MessageKind


@dataclass(frozen=True)
class Receipt:
    accepted: bool
    message_id: str
    reason: str = ""  # a rejection's code and category (delivery.rejection_reason): never SI-DEP's text


@dataclass(frozen=True)
class SendReport:
    batch_id: str
    receipts: dict[str, Receipt]  # by record id; a record without a receipt is retried


class SendFailed(Exception):
    """The batch got no readable answer (down, timeout, 5xx, cut). Safe to resend. The message
    names the failure kind only. `retry_after` (seconds): SI-DEP asked us to slow down (429/503):
    the batch's records wait at least that long and the run stops sending."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchSender(Protocol):
    def send(self, items: Sequence[Outbound], now: datetime) -> SendReport: ...


@dataclass
class Queued:
    """A record with a message waiting, and its encrypted patient blob."""

    record: ScreeningRecord
    blob: bytes | None


class ExportQueue(Protocol):
    def due(self, now: datetime) -> Iterator[Queued]:
        """Records whose next attempt is due, oldest first, streamed."""
        ...

    def lease(self, items: Sequence[Queued], now: datetime, until: datetime) -> list[Queued]:
        """Lease what no live lease holds, if unchanged since read; returns the leased items
        (their records transitioned to `leased`)."""
        ...

    def settle(self, items: Sequence[Queued], now: datetime, outcomes: dict[str, str]) -> int:
        """Write each leased record's delivery fields as transitioned in memory, if this queue
        still holds its lease and its version is unchanged. `outcomes` maps record id to
        acknowledged | rejected | retry. Returns how many had changed meanwhile."""
        ...

    def oldest_due(self, now: datetime) -> datetime | None: ...


# --- the export's wiring and its fan-out (appended here; ports by area move them with the export's)


class ExportRunQueue(ExportQueue, Protocol):
    """The export queue as one run holds it (its leases are the run's): the sweeper reads the due
    range, the trigger a stream batch's new images."""

    def ready_in(self, images: Sequence[dict[str, Any]], now: datetime) -> list[Queued]:
        """Of a stream batch's new images, the records with a message due and no live lease,
        oldest first (no read: the lease's condition checks each is still current)."""
        ...


class ExportQueues(Protocol):
    """One queue per export run: `owner` (the run's id) holds its leases; `shards` restricts it to
    some of the export queue's shards (the fan-out's consumer), None to all."""

    def __call__(self, owner: str, shards: Sequence[str] | None) -> ExportRunQueue: ...


class MessageQueue(Protocol):
    """A message queue (the export's fan-out: one message per export-queue shard)."""

    def send_all(self, bodies: Sequence[str]) -> int:
        """Send every body, or raise: a message the queue refused is never dropped silently.
        Returns how many were sent."""
        ...
