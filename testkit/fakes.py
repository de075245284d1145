"""In-memory fakes of the ports, for pure service tests (cosmicpython style)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from chalicelib.adapters.patient_blob import seal, unseal
from chalicelib.domain import delivery
from chalicelib.domain.access_review import ReviewState
from chalicelib.domain.alerts import Alert, StoredAlert, raised_event
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.commands import (
    ChangePharmacySettings,
    CreateRecord,
    InviteMember,
    OnboardPharmacy,
    PatientQuery,
    SetResult,
    StartLogin,
    canonical_json,
)
from chalicelib.domain.errors import Conflict, ConflictReason, NotFound, ServiceUnavailable, Unauthenticated
from chalicelib.domain.model import Patient, Role, ScreeningRecord
from chalicelib.domain.opening_hours import OpeningHours
from chalicelib.domain.psc import (
    PHARMACIST_PROFESSION,
    AccessDenied,
    AuthorizationPending,
    Practice,
    UnknownIdentifier,
)
from chalicelib.domain.retention import RetentionFacts, RetentionPolicy
from chalicelib.domain.stats import Skeleton
from chalicelib.payloads import (
    parse_invitation,
    parse_login_request,
    parse_patient_query,
    parse_pharmacy,
    parse_pharmacy_settings,
    parse_result_update,
    parse_submission,
    parse_uuid,
)
from chalicelib.ports import (
    Change,
    ChangedMeanwhile,
    CibaRequest,
    CognitoInvitation,
    IdempotencyEntry,
    KeyTaken,
    Membership,
    Outbound,
    Page,
    PharmacyEntry,
    PharmacyMember,
    PscLogin,
    PublishedKey,
    Queued,
    Receipt,
    SendFailed,
    SendReport,
    VerifiedToken,
)

FAKE_INVITED_AT = "2026-11-29T12:00:00Z"


@dataclass
class FixedClock:
    moment: datetime = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class FakeCipher:
    """The real blob codec (adapters/patient_blob.py), reversed instead of encrypted."""

    def encrypt(self, patient: Patient, *, finess: str, record_id: str) -> bytes:
        return seal(patient, finess=finess, record_id=record_id)[::-1]

    def decrypt(self, blob: bytes, *, finess: str, record_id: str) -> Patient:
        return unseal(blob[::-1], finess=finess, record_id=record_id)


class FakeIndex:
    def nir_index(self, nir: str, *, finess: str) -> str:
        return hashlib.sha256(f"{finess}|{nir}".encode()).hexdigest()

    def fingerprint(self, data: bytes, *, finess: str) -> str:
        return hashlib.sha256(finess.encode() + data).hexdigest()


@dataclass
class FakeRepository:
    items: dict[tuple[str, str], tuple[ScreeningRecord, bytes | None, str]] = field(default_factory=dict)
    fail_add: bool = False

    def add(self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime) -> None:
        if self.fail_add:
            raise ServiceUnavailable()
        key = (record.finess, record.id)
        if key in self.items:
            raise Conflict(reason=ConflictReason.RECORD_EXISTS)
        self.items[key] = (copy.deepcopy(replace(record, patient=None)), blob, nir_index)

    def add_change(
        self, record: ScreeningRecord, blob: bytes, nir_index: str, *, expires_at: datetime
    ) -> Change:
        def write(pending: list[Any]) -> None:
            if self.fail_add:
                raise ServiceUnavailable()
            if (record.finess, record.id) in self.items:
                raise Conflict(reason=ConflictReason.RECORD_EXISTS)
            pending.append(lambda: self.add(record, blob, nir_index, expires_at=expires_at))

        return Change(write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.RECORD_EXISTS))

    def save_change(self, record: ScreeningRecord, *, expected_version: int) -> Change:
        def write(pending: list[Any]) -> None:
            if self.items[(record.finess, record.id)][0].version != expected_version:
                raise Conflict(reason=ConflictReason.CHANGED_MEANWHILE)
            pending.append(lambda: self.save(record, expected_version=expected_version))

        return Change(write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.CHANGED_MEANWHILE))

    def get(self, finess: str, record_id: str) -> tuple[ScreeningRecord, bytes | None]:
        if (finess, record_id) not in self.items:
            raise NotFound()
        record, blob, _ = self.items[(finess, record_id)]
        return copy.deepcopy(record), blob

    def list_day(self, finess: str, day: date, *, status: str | None, limit: int, cursor: str | None) -> Page:
        found = [
            copy.deepcopy(r)
            for (f, _), (r, _, _) in sorted(self.items.items(), key=lambda kv: kv[1][0].created_at)
            if f == finess and r.day == day and (status is None or r.status.value == status)
        ]
        start = int(cursor or 0)
        page = found[start : start + limit]
        return Page(items=page, next_cursor=str(start + limit) if start + limit < len(found) else None)

    def save(self, record: ScreeningRecord, *, expected_version: int) -> None:
        stored, blob, index = self.items[(record.finess, record.id)]
        if stored.version != expected_version:
            raise Conflict(reason=ConflictReason.CHANGED_MEANWHILE)
        self.items[(record.finess, record.id)] = (copy.deepcopy(replace(record, patient=None)), blob, index)

    def find_by_nir_index(self, finess: str, nir_index: str) -> list[str]:
        return [r.id for (f, _), (r, _, i) in self.items.items() if f == finess and i == nir_index]


@dataclass
class FakeIdempotency:
    entries: dict[tuple[str, str], IdempotencyEntry] = field(default_factory=dict)

    def claim_change(self, finess: str, key: str, body_mac: str, record_id: str) -> Change:
        def write(pending: list[Any]) -> None:
            if (finess, key) in self.entries:
                raise KeyTaken()
            pending.append(
                lambda: self.entries.update({(finess, key): IdempotencyEntry(body_mac, record_id, True)})
            )

        return Change(write=write, conflict=lambda _failed: KeyTaken())

    def entry(self, finess: str, key: str) -> IdempotencyEntry | None:
        return self.entries.get((finess, key))

    def entries_of(self, finess: str, keys: Sequence[str]) -> dict[str, IdempotencyEntry]:
        return {key: self.entries[(finess, key)] for key in keys if (finess, key) in self.entries}


@dataclass
class FakeJournal:
    events: list[AuditEvent] = field(default_factory=list)
    down: bool = False
    # With real (DynamoDB) repositories: their changes committed in a real transaction, the event
    # kept here (`dynamodb_changes`).
    commit: Callable[[Sequence[Change]], None] | None = None

    def append(self, event: AuditEvent, changes: Sequence[Change] = ()) -> None:
        """Like the transaction: every change's condition is checked before any is applied, and a
        journal down writes neither the event nor its changes."""
        if self.down:
            raise ServiceUnavailable("The audit journal is unavailable.")
        if self.commit is not None:
            self.commit(changes)
            self.events.append(event)
            return
        pending: list[Any] = []
        for change in changes:
            change.write(pending)
        for apply in pending:
            apply()
        self.events.append(event)

    def read(
        self, finess: str, *, start: datetime | None, end: datetime | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return [e.__dict__ for e in self.events if e.finess == finess][:limit], None

    def actions(self) -> list[tuple[str, str]]:
        return [(e.action, e.outcome) for e in self.events]

    def public_key(self) -> PublishedKey | None:
        return None


@dataclass
class FakeMemberships:
    members: dict[str, Membership] = field(default_factory=dict)

    def get(self, username: str) -> Membership | None:
        return self.members.get(username.lower())

    def add(self, membership: Membership, *, created_by: str) -> None:
        self.members[membership.username.lower()] = membership
        self.invited[membership.username.lower()] = (FAKE_INVITED_AT, created_by)

    # username -> (invited at, invited by)
    invited: dict[str, tuple[str, str]] = field(default_factory=dict)

    def members_of(self, finess: str, *, username: str | None = None) -> list[PharmacyMember]:
        return [
            PharmacyMember(m, *self.invited.get(key, (FAKE_INVITED_AT, "seed")))
            for key, m in sorted(self.members.items())
            if m.finess == finess and (username is None or key == username.lower())
        ]

    def count_members(self, finess: str) -> int:
        return len(self.members_of(finess))

    first_admins: dict[str, str] = field(default_factory=dict)

    def has_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        skip = None if other_than is None else other_than.lower()
        return any(
            m.finess == finess and m.role == Role.PHARMACY_ADMIN and m.username.lower() != skip
            for m in self.members.values()
        )

    def add_change(self, membership: Membership, *, created_by: str) -> Change:
        def write(pending: list[Any]) -> None:
            if membership.username.lower() in self.members:
                raise Conflict(reason=ConflictReason.ALREADY_MEMBER)
            pending.append(lambda: self.add(membership, created_by=created_by))

        return Change(write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.ALREADY_MEMBER))

    def add_first_admin_change(self, membership: Membership, *, created_by: str) -> Change:
        assert membership.finess is not None
        finess = membership.finess

        def write(pending: list[Any]) -> None:
            if finess in self.first_admins or membership.username.lower() in self.members:
                raise Conflict(reason=ConflictReason.PHARMACY_HAS_ADMIN)
            pending.append(lambda: self.first_admins.update({finess: membership.username}))
            pending.append(lambda: self.add(membership, created_by=created_by))

        return Change(
            write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.PHARMACY_HAS_ADMIN)
        )

    def revoke_change(self, membership: Membership, *, by: str) -> Change:
        def write(pending: list[Any]) -> None:
            revoker = self.members.get(by.lower())
            if revoker is None or revoker.role != Role.PHARMACY_ADMIN or revoker.finess != membership.finess:
                raise Conflict(reason=ConflictReason.CHANGED_MEANWHILE)
            if membership.username.lower() not in self.members:
                raise NotFound()
            pending.append(lambda: self.members.pop(membership.username.lower(), None))

        return Change(write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.CHANGED_MEANWHILE))

    def end_sessions(self, username: str, *, not_before: int) -> None:
        member = self.members.get(username.lower())
        if member is not None and (member.tokens_not_before or 0) < not_before:  # only ever later
            self.members[username.lower()] = replace(member, tokens_not_before=not_before)

    def has_psc_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        skip = None if other_than is None else other_than.lower()
        return any(
            m.finess == finess
            and m.role == Role.PHARMACY_ADMIN
            and m.national_id is not None
            and m.username.lower() != skip
            for m in self.members.values()
        )

    def move_change(
        self,
        current: Membership,
        membership: Membership,
        *,
        created_by: str,
        first_admin: bool = False,
        leaves_no_admin: bool = False,
    ) -> Change:
        finess = membership.finess or ""

        def write(pending: list[Any]) -> None:
            stored = self.members.get(current.username.lower())
            if stored is None or (stored.finess, stored.role) != (current.finess, current.role):
                raise Conflict(reason=ConflictReason.CHANGED_MEANWHILE)
            if first_admin:
                if finess in self.first_admins:
                    raise Conflict(reason=ConflictReason.CHANGED_MEANWHILE)
                pending.append(lambda: self.first_admins.update({finess: membership.username}))
            pending.append(lambda: self.add(membership, created_by=created_by))
            if leaves_no_admin:
                pending.append(lambda: self.first_admins.pop(current.finess or "", None))

        return Change(write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.CHANGED_MEANWHILE))


@dataclass
class FakeDirectory:
    """The national directory: national id -> the pharmacies (FINESS) it lists them at as a
    pharmacist; `down` makes it unavailable."""

    pharmacists: dict[str, set[str]] = field(default_factory=dict)
    down: bool = False
    reads: int = 0

    def practice(self, national_id: str) -> Practice | None:
        self.reads += 1
        if self.down:
            raise ServiceUnavailable("the directory is down")
        where = self.pharmacists.get(national_id.upper())
        if where is None:
            return None
        return Practice(national_id.upper(), frozenset({PHARMACIST_PROFESSION}), frozenset(where))


@dataclass
class FakePharmacy:
    name: str
    time_zone: str
    psc_required: bool = False
    onboarded_at: str = FAKE_INVITED_AT
    opening_hours: dict[str, list[str]] | None = None


@dataclass
class FakePharmacies:
    """PharmacyRepository and PharmacyZones."""

    pharmacies: dict[str, FakePharmacy] = field(default_factory=dict)

    def add(self, finess: str, name: str, *, time_zone: str | None = None, created_by: str) -> None:
        if finess in self.pharmacies:
            raise Conflict(reason=ConflictReason.PHARMACY_EXISTS)
        self.pharmacies[finess] = FakePharmacy(name, time_zone or "Europe/Paris")

    def add_change(self, finess: str, name: str, *, time_zone: str | None = None, created_by: str) -> Change:
        def write(pending: list[Any]) -> None:
            if finess in self.pharmacies:
                raise Conflict(reason=ConflictReason.PHARMACY_EXISTS)
            pending.append(lambda: self.add(finess, name, time_zone=time_zone, created_by=created_by))

        return Change(write=write, conflict=lambda _failed: Conflict(reason=ConflictReason.PHARMACY_EXISTS))

    def exists(self, finess: str) -> bool:
        return finess in self.pharmacies

    def entry(self, finess: str) -> PharmacyEntry | None:
        pharmacy = self.pharmacies.get(finess)
        if pharmacy is None:
            return None
        return PharmacyEntry(
            finess,
            pharmacy.name,
            pharmacy.time_zone,
            pharmacy.onboarded_at,
            pharmacy.psc_required,
            pharmacy.opening_hours,
        )

    def entries(self) -> list[PharmacyEntry]:
        return [entry for finess in sorted(self.pharmacies) if (entry := self.entry(finess)) is not None]

    def psc_required(self, finess: str) -> bool:
        pharmacy = self.pharmacies.get(finess)
        return pharmacy is not None and pharmacy.psc_required

    def set_psc_required_change(self, finess: str, required: bool, *, changed_by: str) -> Change:
        def write(pending: list[Any]) -> None:
            if finess not in self.pharmacies:
                raise NotFound()
            pending.append(lambda: setattr(self.pharmacies[finess], "psc_required", required))

        return Change(write=write, conflict=lambda _failed: NotFound())

    def set_opening_hours_change(
        self,
        finess: str,
        hours: Mapping[str, Sequence[str]] | None,
        *,
        changed_by: str,
        psc_required: bool | None = None,
    ) -> Change:
        def apply() -> None:
            pharmacy = self.pharmacies[finess]
            pharmacy.opening_hours = None if hours is None else {d: list(r) for d, r in hours.items()}
            if psc_required is not None:
                pharmacy.psc_required = psc_required

        def write(pending: list[Any]) -> None:
            if finess not in self.pharmacies:
                raise NotFound()
            pending.append(apply)

        return Change(write=write, conflict=lambda _failed: NotFound())

    def time_zone(self, finess: str) -> str:
        return self.pharmacies[finess].time_zone


@dataclass
class FakeUsers:
    """UserDirectory: invitations sent and users signed out everywhere."""

    invited: dict[str, str] = field(default_factory=dict)  # username -> e-mail
    signed_out: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # usernames who set their password
    resent: list[str] = field(default_factory=list)

    def invite(self, email: str) -> str:
        username = f"user-{len(self.invited) + 1}"
        self.invited[username] = email
        return username

    def sign_out_everywhere(self, username: str) -> None:
        self.signed_out.append(username)

    def invitation(self, username: str) -> CognitoInvitation | None:
        if username not in self.invited:
            return None
        return CognitoInvitation(email=self.invited[username], pending=username not in self.accepted)

    def resend_invitation(self, username: str) -> None:
        if username not in self.invited or username in self.accepted:
            raise Conflict(
                "This member has no pending invitation.", reason=ConflictReason.NO_PENDING_INVITATION
            )
        self.resent.append(username)


@dataclass
class FakeUserLookup:
    """UserLookup: usernames by the identity provider's `sub`."""

    subs: dict[str, str] = field(default_factory=dict)

    def username_of(self, sub: str) -> str | None:
        return self.subs.get(sub)


@dataclass
class FakeTokens:
    """TokenVerifier: the tokens it knows, anything else refused."""

    tokens: dict[str, VerifiedToken] = field(default_factory=dict)

    def verify(self, token: str) -> VerifiedToken:
        if token not in self.tokens:
            raise Unauthenticated("The access token is invalid.")
        return self.tokens[token]


@dataclass
class FakeRetentionStore:
    records: dict[str, RetentionFacts] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)  # changed meanwhile
    erased: list[str] = field(default_factory=list)
    skeletons: dict[tuple[str, date], list[Skeleton]] = field(default_factory=dict)

    def on_erase_day(self, day: date) -> Iterator[RetentionFacts]:
        yield from [f for f in self.records.values() if f.erase_day == day]

    def erase_expired(self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy) -> bool:
        if facts.record_id in self.refuse:
            return False
        self.records[facts.record_id] = replace(facts, erase_day=None)
        self.erased.append(facts.record_id)
        return True

    def hold_until(self, facts: RetentionFacts, day: date) -> bool:
        if facts.record_id in self.refuse:
            return False
        self.records[facts.record_id] = replace(facts, erase_day=day)
        return True

    def erase_unsent(self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy) -> bool:
        if record.id in self.refuse:
            return False
        self.erased.append(record.id)
        return True

    def erase_expired_change(
        self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        def write(pending: list[Any]) -> None:
            if facts.record_id in self.refuse:
                raise ChangedMeanwhile()
            pending.append(lambda: self.erase_expired(facts, now=now, policy=policy))

        return Change(write=write, conflict=lambda _failed: ChangedMeanwhile())

    def erase_unsent_change(
        self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        def write(pending: list[Any]) -> None:
            if record.id in self.refuse:
                raise ChangedMeanwhile()
            pending.append(lambda: self.erase_unsent(record, now=now, policy=policy))

        return Change(write=write, conflict=lambda _failed: ChangedMeanwhile())

    def day_skeletons(self, finess: str, day: date) -> list[Skeleton]:
        return list(self.skeletons.get((finess, day), []))


@dataclass
class FakePscLogins:
    logins: dict[str, PscLogin] = field(default_factory=dict)

    def add(self, login: PscLogin) -> None:
        self.logins[login.handle_digest] = login

    def get(self, handle_digest: str) -> PscLogin | None:
        return self.logins.get(handle_digest)

    def claim_poll(self, login: PscLogin, *, next_poll_at: float, interval: int) -> bool:
        stored = self.logins.get(login.handle_digest)
        if stored is None or stored.next_poll_at != login.next_poll_at:
            return False
        self.logins[login.handle_digest] = replace(stored, next_poll_at=next_poll_at, interval=interval)
        return True

    def remove(self, handle_digest: str) -> None:
        self.logins.pop(handle_digest, None)


@dataclass
class FakePscProvider:
    """PscProvider: knows some national ids; the professional approves only the push showing the
    code `approve` names (the one their app shows)."""

    known: set[str] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)  # auth_req_ids
    declined: set[str] = field(default_factory=set)
    # national id -> the pharmacies the directory lists them at as a pharmacist (profession 21)
    directory: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # auth_req_id -> (national id, binding message)
    requests: dict[str, tuple[str, str]] = field(default_factory=dict)

    def authorize(self, national_id: str, binding_message: str) -> CibaRequest:
        if national_id not in self.known:
            raise UnknownIdentifier("Pro Santé Connect knows no such identifier.")
        auth_req_id = f"req-{len(self.requests) + 1}"
        self.requests[auth_req_id] = (national_id, binding_message)
        return CibaRequest(auth_req_id=auth_req_id, expires_in=120, interval=5)

    def pushes(self, national_id: str) -> list[str]:
        return [code for who, code in self.requests.values() if who == national_id]

    def approve(self, national_id: str, binding_message: str) -> bool:
        """Approve the push to `national_id` that shows `binding_message`; False if none shows it."""
        found = [r for r, push in self.requests.items() if push == (national_id, binding_message)]
        self.approved.update(found)
        return bool(found)

    def decline(self, national_id: str, binding_message: str) -> bool:
        found = [r for r, push in self.requests.items() if push == (national_id, binding_message)]
        self.declined.update(found)
        return bool(found)

    def poll(self, auth_req_id: str) -> dict[str, Any]:
        national_id, _ = self.requests[auth_req_id]
        if auth_req_id in self.declined:
            raise AccessDenied("The login was declined in the e-CPS app.")
        if auth_req_id not in self.approved:
            raise AuthorizationPending("The professional has not approved yet.")
        return {"id_token": f"id-{national_id}", "access_token": f"at-{national_id}"}

    def verified_userinfo(self, tokens: dict[str, Any]) -> dict[str, Any]:
        national_id = str(tokens["id_token"]).removeprefix("id-")
        activities = [{"numeroFinessSite": f} for f in self.directory.get(national_id, ())]
        return {
            "SubjectNameID": national_id,
            "SubjectRefPro": {"exercices": [{"codeProfession": "21", "activities": activities}]},
        }


@dataclass
class FakeSessionIssuer:
    issued: list[str] = field(default_factory=list)
    pharmacies: list[str] = field(default_factory=list)  # the FINESS each token names

    def issue(self, username: str, finess: str) -> tuple[str, int]:
        self.issued.append(username)
        self.pharmacies.append(finess)
        return f"session-{len(self.issued)}", 900


@dataclass
class FakePscStartLimits:
    """PscStartLimits in memory: counts per (key, window end)."""

    counts: dict[tuple[str, int], int] = field(default_factory=dict)

    def count(self, key: str, *, window_end: int) -> int:
        self.counts[(key, window_end)] = self.counts.get((key, window_end), 0) + 1
        return self.counts[(key, window_end)]


@dataclass
class FakeExportQueue:
    """ExportQueue over in-memory records, with the DynamoDB queue's conditions: a lease only on an
    unchanged, due record; an outcome only on a record still leased by us and unchanged."""

    records: dict[str, tuple[ScreeningRecord, bytes]] = field(default_factory=dict)
    leased_by_us: set[str] = field(default_factory=set)
    before_lease: Callable[[], None] = lambda: None  # a pharmacist's change between read and lease

    def put(self, record: ScreeningRecord, blob: bytes) -> None:
        self.records[record.id] = (copy.deepcopy(record), blob)

    def record(self, record_id: str) -> ScreeningRecord:
        return self.records[record_id][0]

    def _due(self, record: ScreeningRecord, now: datetime) -> bool:
        at = record.delivery.next_attempt_at
        return delivery.has_message_to_send(record) and (at is None or at <= now)

    def due(self, now: datetime) -> Iterator[Queued]:
        found = [(r, b) for r, b in self.records.values() if self._due(r, now)]
        for record, blob in sorted(found, key=lambda rb: rb[0].created_at):
            yield Queued(copy.deepcopy(record), blob)

    def lease(self, items: Sequence[Queued], now: datetime, until: datetime) -> list[Queued]:
        self.before_lease()
        won = []
        for item in items:
            stored = self.records[item.record.id][0]
            if stored.version == item.record.version and self._due(stored, now):
                delivery.lease(item.record, now, until)
                self.records[item.record.id] = (copy.deepcopy(item.record), self.records[item.record.id][1])
                self.leased_by_us.add(item.record.id)
                won.append(item)
        return won

    def settle(self, items: Sequence[Queued], now: datetime, outcomes: dict[str, str]) -> int:
        changed = 0
        for item in items:
            stored = self.records[item.record.id][0]
            if item.record.id in self.leased_by_us and stored.version == item.record.version:
                self.records[item.record.id] = (copy.deepcopy(item.record), self.records[item.record.id][1])
            else:
                changed += 1
            self.leased_by_us.discard(item.record.id)
        return changed

    def oldest_due(self, now: datetime) -> datetime | None:
        due = [
            r.delivery.next_attempt_at or r.created_at for r, _ in self.records.values() if self._due(r, now)
        ]
        return min(due, default=None)


@dataclass
class FakeSender:
    """BatchSender: accepts every message, or fails every batch while `down`."""

    down: bool = False
    sent: list[list[str]] = field(default_factory=list)  # record ids per batch that reached it

    def send(self, items: Sequence[Outbound], now: datetime) -> SendReport:
        if self.down:
            raise SendFailed("down")
        self.sent.append([item.record.id for item in items])
        receipts = {
            item.record.id: Receipt(accepted=True, message_id=f"m-{item.record.id}") for item in items
        }
        return SendReport(batch_id=f"b-{len(self.sent)}", receipts=receipts)


def dynamodb_changes(changes: Sequence[Change]) -> None:
    """FakeJournal's `commit` for tests on moto's tables: the changes in one real transaction."""
    from pynamodb.connection import Connection

    from chalicelib.adapters.dynamodb.transactions import write_together
    from chalicelib.config import get_settings

    settings = get_settings()
    if changes and not write_together(
        Connection(region=settings.region, host=settings.aws_endpoint_url), changes
    ):
        raise ServiceUnavailable("The transaction conflicted with another.")


# --- commands as the views build them from a body (chalicelib/api/*.py) ---------------------------


class _ClockAndSettings(Protocol):
    @property
    def clock(self) -> Any: ...

    @property
    def settings(self) -> Any: ...


def create_command(deps: _ClockAndSettings, body: Any, key: str | None = None) -> CreateRecord:
    """POST /v1/tests's command, parsed as its view does (the time from `deps.clock`)."""
    submission = parse_submission(body, now=deps.clock.now(), max_age_days=deps.settings.offline_window_days)
    idempotency_key = parse_uuid(key, "Idempotency-Key") if key is not None else None
    return CreateRecord(submission, idempotency_key, canonical_json(body))


def result_command(record_id: str, body: Any) -> SetResult:
    return SetResult(record_id, parse_result_update(body))


def pharmacy_command(body: Any) -> OnboardPharmacy:
    return OnboardPharmacy(*parse_pharmacy(body))


def invite_command(finess: str, body: Any) -> InviteMember:
    invitation = parse_invitation(body)
    return InviteMember(finess, invitation.role, email=invitation.email, national_id=invitation.national_id)


def settings_command(finess: str, body: Any) -> ChangePharmacySettings:
    return ChangePharmacySettings(finess, *parse_pharmacy_settings(body))


def patient_query(body: Any) -> PatientQuery:
    return PatientQuery(parse_patient_query(body))


def login_command(body: Any) -> StartLogin:
    return StartLogin(parse_login_request(body))


@dataclass
class FakeExportRunQueue(FakeExportQueue):
    """ExportRunQueue: FakeExportQueue plus the trigger's read (an image names its record by
    `record_id`); `owners` records each run's owner and shards as `FakeExportQueues` hands it out."""

    owners: list[tuple[str, Sequence[str] | None]] = field(default_factory=list)

    def ready_in(self, images: Sequence[dict[str, Any]], now: datetime) -> list[Queued]:
        named = {image.get("record_id") for image in images}
        return [item for item in self.due(now) if item.record.id in named]

    def __call__(self, owner: str, shards: Sequence[str] | None) -> FakeExportRunQueue:
        """ExportQueues: every run gets this one queue (the owner and shards are recorded)."""
        self.owners.append((owner, shards))
        return self


@dataclass
class FakeMessageQueue:
    """MessageQueue: keeps every body sent; refuses every message while `down`."""

    sent: list[str] = field(default_factory=list)
    down: bool = False

    def send_all(self, bodies: Sequence[str]) -> int:
        if self.down:
            raise RuntimeError("the queue refused the messages")
        self.sent.extend(bodies)
        return len(bodies)


class FakeAlerts:
    """The review's alerts in memory (chalicelib/ports/alerts.py); `journal`, if given, gets each
    raise's `alert_raised` event as the real store appends it."""

    def __init__(self, journal: FakeJournal | None = None) -> None:
        self.alerts: dict[str, StoredAlert] = {}
        self.journal = journal

    def raise_alert(self, alert: Alert, *, at: datetime) -> bool:
        if alert.alert_id in self.alerts:
            return False
        self.alerts[alert.alert_id] = StoredAlert(alert, raised_at=at)
        if self.journal is not None:
            self.journal.append(raised_event(alert))
        return True

    def list_alerts(self, finess: str, *, include_acknowledged: bool, limit: int) -> list[StoredAlert]:
        mine = [
            stored
            for stored in self.alerts.values()
            if stored.alert.finess == finess and (include_acknowledged or stored.acknowledged_at is None)
        ]
        return sorted(mine, key=lambda stored: stored.raised_at, reverse=True)[:limit]

    def _acknowledge(self, finess: str, alert_id: str, *, by: str, at: datetime) -> StoredAlert | None:
        stored = self.alerts.get(alert_id)
        if stored is None or stored.alert.finess != finess:
            return None
        if stored.acknowledged_at is None:
            stored = replace(stored, acknowledged_by=by, acknowledged_at=at)
            self.alerts[alert_id] = stored
        return stored

    def alert(self, finess: str, alert_id: str) -> StoredAlert | None:
        stored = self.alerts.get(alert_id)
        return stored if stored is not None and stored.alert.finess == finess else None

    def acknowledge_change(self, finess: str, alert_id: str, *, by: str, at: datetime) -> Change:
        def write(pending: list[Any]) -> None:
            stored = self.alert(finess, alert_id)
            if stored is None or stored.acknowledged_at is not None:
                raise ChangedMeanwhile()
            pending.append(lambda: self._acknowledge(finess, alert_id, by=by, at=at))

        return Change(write=write, conflict=lambda _failed: ChangedMeanwhile())


class FakeReviewStates:
    """Each pharmacy's state as its stored JSON and version; `saves` counts writes, `lose_next`
    makes the next save lose to another invocation (the version moved meanwhile)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str, int]] = {}
        self.saves = 0
        self.lose_next = 0

    def load(self, finess: str) -> tuple[ReviewState, int]:
        text, version = self.items.get(finess, ("", 0))
        return (ReviewState.from_json(text) if text else ReviewState()), version

    def save(self, finess: str, state: ReviewState, *, version: int) -> bool:
        if self.lose_next:
            self.lose_next -= 1
            text, stored = self.items.get(finess, ("", 0))
            self.items[finess] = (text, stored + 1)
            return False
        if self.items.get(finess, ("", 0))[1] != version:
            return False
        self.items[finess] = (state.to_json(), version + 1)
        self.saves += 1
        return True


@dataclass
class FakePharmacyHours:
    hours: dict[str, OpeningHours] = field(default_factory=dict)

    def opening_hours(self, finess: str) -> OpeningHours | None:
        return self.hours.get(finess)
