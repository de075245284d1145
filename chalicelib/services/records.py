"""Use cases of test records: create, read, list, set the result, cancel, withdraw, delivery state.

Audit rule (see docs/journal.md): nothing is disclosed without a trace. A read, a list or
a delivery read is journaled before the data leaves; if the journal cannot take the event, the
caller gets 503 and no data. A change and its event are one transaction (`journal.append(event,
changes)`): a create with its idempotency claim, a result, a cancellation, a withdrawal. If it
fails, neither the change nor its event exists, and the client's retry starts afresh.

An ambiguous write is not a conflict: when a create, a result or a cancel loses its answer after
its transaction committed (a read timeout), botocore's retry carries the transaction's
ClientRequestToken (DynamoDB applies nothing twice), and a retry that still finds the items it
wrote, or no answer at all, ends with the journal checking whether its own link is stored
(chalicelib/adapters/dynamodb/transactions.write_together): if it is, the use case answers as if
the first attempt had returned, never "a record with this id exists" for its own record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from chalicelib.config import Settings
from chalicelib.domain import delivery as delivery_rules
from chalicelib.domain.commands import CreateRecord, SetResult
from chalicelib.domain.errors import Conflict, ConflictReason, NotFound, ValidationFailed
from chalicelib.domain.identity import document_validates, reliability
from chalicelib.domain.model import Patient, Principal, RecordStatus, ScreeningRecord, Submission
from chalicelib.domain.pharmacy_day import PARIS, ZonesFromFiness, local_day
from chalicelib.domain.retention import backstop_expiry
from chalicelib.observability import AUTH_FAILURES, count
from chalicelib.payloads import ListQuery, parse_uuid
from chalicelib.ports import (
    AuditJournal,
    BlindIndex,
    Change,
    Clock,
    IdempotencyStore,
    InsiTeleservice,
    InsiUnavailable,
    InsTraits,
    KeyTaken,
    NoInsi,
    Page,
    PersonalDataCipher,
    PharmacyZones,
    RecordRepository,
)
from chalicelib.services.access import pharmacy_of
from chalicelib.services.call import Call
from chalicelib.services.retention import retention_policy

# A change that lost a race for the record's version is read again and re-applied this many times.
CHANGE_ATTEMPTS = 3


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RecordsDeps:
    repository: RecordRepository
    cipher: PersonalDataCipher
    index: BlindIndex
    idempotency: IdempotencyStore
    journal: AuditJournal
    clock: Clock
    settings: Settings
    new_id: Callable[[], str] = field(default=_new_id)
    zones: PharmacyZones = field(default_factory=ZonesFromFiness)
    insi: InsiTeleservice = field(default_factory=NoInsi)


def ins_traits(patient: Patient) -> InsTraits | None:
    """The traits INSi needs, if the pharmacist recorded them all."""
    if not (patient.birth_last_name and patient.birth_first_names and patient.birth_place):
        return None
    return InsTraits(
        birth_last_name=patient.birth_last_name,
        birth_first_names=patient.birth_first_names,
        birth_date=patient.birth_date,
        sex=patient.sex.value,
        birth_place=patient.birth_place,
    )


def identify(insi: InsiTeleservice, patient: Patient, day: date) -> Patient:
    """The patient with its identity status derived from what was checked: the document seen on
    `day` and INSi's answer for the NIR and traits (no answer: not confirmed). Whatever status the
    client may have meant is never read."""
    traits = ins_traits(patient)
    confirmed = False
    if traits is not None:
        try:
            confirmed = insi.verify(patient.nir, traits)
        except InsiUnavailable:
            confirmed = False  # the record is kept; its identity is as the counter checked it
    status = reliability(
        document_validates=document_validates(patient.identity_document, patient.birth_date, day),
        insi_confirmed=confirmed,
    )
    return replace(patient, identity_status=status)


def pharmacy_zone(deps: RecordsDeps, caller: Principal) -> str:
    """The caller's pharmacy's time zone (Paris for a caller without one: the routes refuse them)."""
    return deps.zones.time_zone(caller.finess) if caller.finess else PARIS


def pharmacy_today(deps: RecordsDeps, caller: Principal) -> date:
    """Today in the caller's pharmacy."""
    return local_day(deps.clock.now(), pharmacy_zone(deps, caller))


def admit(deps: RecordsDeps, call: Call, action: str) -> None:
    """The role check `action` makes first (a refusal journaled), for a view to run before it
    answers a malformed request (chalicelib/api/context.admitted_then_parsed)."""
    pharmacy_of(deps.journal, call, action)


def _record_id(value: str) -> str:
    """A path id that is not a UUID names no record: 404, like another pharmacy's record."""
    try:
        return parse_uuid(value, "id")
    except ValidationFailed as exc:
        raise NotFound("No such test record.") from exc


def _load(deps: RecordsDeps, finess: str, record_id: str) -> ScreeningRecord:
    """The record with its patient decrypted; NotFound for another pharmacy's record."""
    record, blob = deps.repository.get(finess, record_id)
    if blob is not None:
        record.patient = deps.cipher.decrypt(blob, finess=finess, record_id=record_id)
    return record


@dataclass(frozen=True)
class Draft:
    """A create's values decided before its write: the identified patient, and every key-service
    call (the NIR's blind index, the body's fingerprint) done, so a KMS failure writes nothing."""

    finess: str
    submission: Submission
    time_zone: str
    now: datetime
    nir_index: str
    body_mac: str
    expires_at: datetime
    key: str | None


def draft(deps: RecordsDeps, finess: str, command: CreateRecord) -> Draft:
    """The create `command` of `finess`, ready to write."""
    now = deps.clock.now()
    time_zone = deps.zones.time_zone(finess)
    patient = identify(deps.insi, command.submission.patient, local_day(now, time_zone))
    key = command.idempotency_key
    return Draft(
        finess=finess,
        submission=replace(command.submission, patient=patient),
        time_zone=time_zone,
        now=now,
        nir_index=deps.index.nir_index(patient.nir, finess=finess),
        body_mac=deps.index.fingerprint(command.body, finess=finess) if key is not None else "",
        expires_at=backstop_expiry(now, retention_policy(deps.settings)),  # TTL: the purge's backstop
        key=key,
    )


def drafted_changes(
    deps: RecordsDeps, call: Call, drafted: Draft, record_id: str, *, claim: bool
) -> tuple[ScreeningRecord, list[Change]]:
    """The new record `record_id` and its writes: the record, and its key's claim if `claim`."""
    finess, now = drafted.finess, drafted.now
    blob = deps.cipher.encrypt(drafted.submission.patient, finess=finess, record_id=record_id)
    record = ScreeningRecord(
        id=record_id,
        finess=finess,
        patient=drafted.submission.patient,
        test=drafted.submission.test,
        status=RecordStatus.PENDING,
        created_at=now,
        updated_at=now,
        created_by=call.caller.username,
        time_zone=drafted.time_zone,
    )
    if record.test.result is not None:
        delivery_rules.schedule_send(record, now)
    changes = [deps.repository.add_change(record, blob, drafted.nir_index, expires_at=drafted.expires_at)]
    if claim and drafted.key is not None:
        changes.append(deps.idempotency.claim_change(finess, drafted.key, drafted.body_mac, record_id))
    return record, changes


def create_record(deps: RecordsDeps, call: Call, command: CreateRecord) -> tuple[ScreeningRecord, bool]:
    """Create a record; returns it and whether it was created now (False: an idempotent replay).

    AWS round trips: the caller's membership read, then one transaction (the idempotency claim,
    the record and its audit event); a replay reads the claim and the record instead."""
    finess = pharmacy_of(deps.journal, call, "create")
    return create_drafted(deps, call, draft(deps, finess, command))


def create_drafted(deps: RecordsDeps, call: Call, drafted: Draft) -> tuple[ScreeningRecord, bool]:
    """`create_record` once the caller's pharmacy is known and the create drafted."""
    audit = call.audit(deps.journal)
    finess, key = drafted.finess, drafted.key

    def store(record_id: str, claim: bool) -> ScreeningRecord:
        record, changes = drafted_changes(deps, call, drafted, record_id, claim=claim)
        audit.record("create", record_ids=[record.id], changes=changes)
        return record

    try:
        return store(deps.new_id(), claim=True), True
    except KeyTaken:
        assert key is not None
    claimed = deps.idempotency.entry(finess, key)
    if claimed is None:  # the claim expired in between: the key is free again
        return store(deps.new_id(), claim=True), True
    if claimed.body_mac != drafted.body_mac:
        raise Conflict(
            "This Idempotency-Key was used with another body.", reason=ConflictReason.IDEMPOTENCY_KEY_REUSED
        )
    try:
        record = _load(deps, finess, claimed.record_id)
    except NotFound:
        # A claim stored apart from its record (before both were one write): finish the create
        # under the claimed id, which is sealed in the blob.
        return store(claimed.record_id, claim=False), True
    audit.record("create", record_ids=[record.id], reason="replay")
    return record, False


def _target(
    deps: RecordsDeps,
    call: Call,
    action: str,
    finess: str,
    path_id: str,
    *,
    decrypt: bool = True,
) -> ScreeningRecord:
    """The caller's record named in the path. An id of no record of theirs (another pharmacy's, or
    none) is a 404 that leaves evidence: a denied event on the caller's chain and AuthFailures."""
    record_id: str | None = None
    try:
        record_id = _record_id(path_id)
        return _load(deps, finess, record_id) if decrypt else deps.repository.get(finess, record_id)[0]
    except NotFound:
        ids = [record_id] if record_id is not None else []  # a non-UUID path names nothing worth keeping
        call.audit(deps.journal).deny(action, "not_found", record_ids=ids)
        count(AUTH_FAILURES)
        raise


def read_record(deps: RecordsDeps, call: Call, record_id: str) -> ScreeningRecord:
    finess = pharmacy_of(deps.journal, call, "read")
    record = _target(deps, call, "read", finess, record_id)
    call.audit(deps.journal).record("read", record_ids=[record.id])
    return record


def list_records(deps: RecordsDeps, call: Call, query: ListQuery) -> Page:
    finess = pharmacy_of(deps.journal, call, "list")
    status = query.status.value if query.status else None
    page = deps.repository.list_day(finess, query.day, status=status, limit=query.limit, cursor=query.cursor)
    call.audit(deps.journal).record("list", record_ids=[r.id for r in page.items])
    return page


def _change(
    deps: RecordsDeps,
    call: Call,
    action: str,
    record_id: str,
    mutate: Callable[[ScreeningRecord], bool],
) -> ScreeningRecord:
    """Load, apply `mutate` (False: nothing to do), then store it with an optimistic version check
    and its event in one transaction.

    What the pharmacist asks (this result, cancel) does not depend on the version they read: a
    save that lost a race (the export leasing the record meanwhile, another request) is not their
    conflict, so the record is read again and `mutate` decides again, up to CHANGE_ATTEMPTS times.
    A refusal of `mutate` itself (cancelled, already sent) is never retried; nothing of a failed
    attempt was written, its event included."""
    finess = pharmacy_of(deps.journal, call, action)
    audit = call.audit(deps.journal)
    for attempt in range(1, CHANGE_ATTEMPTS + 1):
        record = _target(deps, call, action, finess, record_id)
        before = replace(record, delivery=replace(record.delivery))
        changes: list[Change] = []
        if mutate(record):
            record.version = before.version + 1
            record.updated_at = deps.clock.now()
            changes.append(deps.repository.save_change(record, expected_version=before.version))
        try:
            audit.record(action, record_ids=[record.id], changes=changes)
        except Conflict:
            if not changes or attempt == CHANGE_ATTEMPTS:
                raise
            continue
        return record
    raise AssertionError("unreachable: the last attempt returns or raises")


def set_result(deps: RecordsDeps, call: Call, command: SetResult) -> ScreeningRecord:
    result = command.result

    def mutate(record: ScreeningRecord) -> bool:
        if record.status == RecordStatus.CANCELLED:
            raise Conflict("This test was cancelled.", reason=ConflictReason.CANCELLED)
        if record.test.result == result:
            return False  # a retried PUT changes nothing
        record.test = replace(record.test, result=result)
        delivery_rules.schedule_send(record, deps.clock.now())
        return True

    return _change(deps, call, "set_result", command.record_id, mutate)


def cancel_record(deps: RecordsDeps, call: Call, record_id: str) -> None:
    """Cancel a test SI-DEP never saw; once a message may have left it is a 409 (withdraw instead)."""
    now = deps.clock.now()

    def mutate(record: ScreeningRecord) -> bool:
        if delivery_rules.already_sent(record):
            raise Conflict(
                "A message for this test may have reached SI-DEP: it cannot be cancelled; withdraw it "
                "with POST /v1/tests/{id}/withdrawal.",
                reason=ConflictReason.ALREADY_SENT,
                withdrawal=f"/v1/tests/{record.id}/withdrawal",
            )
        if record.status == RecordStatus.CANCELLED:
            return False
        delivery_rules.cancel(record, now)
        return True

    _change(deps, call, "cancel", record_id, mutate)


def withdraw_record(deps: RecordsDeps, call: Call, record_id: str) -> ScreeningRecord:
    """Ask SI-DEP to withdraw what it may hold of a test (OBX-11 W)."""

    def mutate(record: ScreeningRecord) -> bool:
        if not delivery_rules.already_sent(record):
            raise Conflict(
                "Nothing of this test was ever sent to SI-DEP; cancel it instead.",
                reason=ConflictReason.NEVER_SENT,
            )
        if record.status == RecordStatus.CANCELLED:
            return False
        delivery_rules.schedule_withdrawal(record, deps.clock.now())
        return True

    return _change(deps, call, "withdraw", record_id, mutate)


def read_delivery(deps: RecordsDeps, call: Call, record_id: str) -> ScreeningRecord:
    finess = pharmacy_of(deps.journal, call, "read_delivery")
    # no decryption: the delivery state is not personal
    record = _target(deps, call, "read_delivery", finess, record_id, decrypt=False)
    call.audit(deps.journal).record("read_delivery", record_ids=[record.id])
    return record  # its delivery, rendered at the edge (no personal data: it was not decrypted)
