"""The patient's rights, exercised through their pharmacy: access (export) and erasure.

A patient is found by NIR through the pharmacy's blind index: the NIR is MACed with the
pharmacy's key and looked up in the `by_patient` index, so another pharmacy's records of the same
person are never found (their index values differ).

Erasure applies to the records nothing of which was sent to SI-DEP: they are cancelled and their
personal data erased (the skeleton stays). A record already sent is held by SI-DEP, the long-term
holder, which is responsible for erasing it there; this pharmacy's copy goes by the retention
policy, and the answer names the day.

The export includes each record's access history (services/access_history.py): who accessed it,
read from the pharmacy's own chain only, the role without the username.

Audit (journal before disclosure or change, as everywhere): the export appends `patient_export`
with the records' ids before answering; the erasure appends one `erase` event per record before
erasing it (reason `patient_request`; `failed` if the record changed meanwhile), then one
`patient_erasure` event with every record found before answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain import delivery as delivery_rules
from chalicelib.domain.commands import PatientQuery
from chalicelib.domain.errors import Conflict, ConflictReason, NotFound
from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.retention import EraseReason, RetentionPolicy, erase_day
from chalicelib.domain.serialization import iso_utc
from chalicelib.payloads import DELIVERY, RECORD
from chalicelib.ports import (
    AuditJournal,
    BlindIndex,
    ChangedMeanwhile,
    Clock,
    PersonalDataCipher,
    RecordRepository,
    RetentionStore,
)
from chalicelib.services.access import pharmacy_of
from chalicelib.services.access_history import access_history
from chalicelib.services.call import Call

ERASE_ATTEMPTS = 3
SIDEP_HOLDS = (
    "Records already sent to SI-DEP are held by SI-DEP, the long-term holder, which is responsible "
    "for erasing them there: the patient exercises that right with SI-DEP. This pharmacy's copy of "
    "their personal data is erased on the day shown, under the retention policy."
)


@dataclass(frozen=True)
class PatientsDeps:
    repository: RecordRepository
    cipher: PersonalDataCipher
    index: BlindIndex
    store: RetentionStore
    journal: AuditJournal
    clock: Clock
    policy: RetentionPolicy


def _record_ids(deps: PatientsDeps, finess: str, query: PatientQuery) -> list[str]:
    nir = query.nir
    return sorted(deps.repository.find_by_nir_index(finess, deps.index.nir_index(nir, finess=finess)))


def _erased_here_on(record: ScreeningRecord, policy: RetentionPolicy) -> str:
    return erase_day(record.created_at, record.delivery.acknowledged_at, policy, record.time_zone).isoformat()


def admit(deps: PatientsDeps, call: Call, action: str) -> None:
    """The role check `action` makes first (a refusal journaled), for a view to run before it
    answers a malformed request (chalicelib/api/context.admitted_then_parsed)."""
    pharmacy_of(deps.journal, call, action)


def export_patient(deps: PatientsDeps, call: Call, query: PatientQuery) -> dict[str, Any]:
    """Everything held about one patient at the caller's pharmacy, decrypted."""
    finess = pharmacy_of(deps.journal, call, "patient_export")
    records: list[ScreeningRecord] = []
    for record_id in _record_ids(deps, finess, query):
        try:
            record, blob = deps.repository.get(finess, record_id)
        except NotFound:
            continue
        if blob is None:
            continue  # erased meanwhile: nothing personal left
        record.patient = deps.cipher.decrypt(blob, finess=finess, record_id=record_id)
        records.append(record)
    records.sort(key=lambda r: r.created_at)
    now = deps.clock.now()
    history, complete = access_history(
        deps.journal,
        finess,
        [r.id for r in records],
        since=records[0].created_at if records else now,
        until=now,
    )
    call.audit(deps.journal).record("patient_export", record_ids=[r.id for r in records])
    return {
        "finess": finess,
        "generated_at": iso_utc(now),
        "records": [
            {
                **RECORD.render(record),
                "delivery": DELIVERY.render(record),
                "retention": {
                    "sent_to_sidep": delivery_rules.already_sent(record),
                    "personal_data_erased_on": _erased_here_on(record, deps.policy),
                },
                "access_history": history[record.id],
            }
            for record in records
        ],
        "access_history_complete": complete,
        "retention_policy": {
            "after_acknowledgement_days": deps.policy.after_ack_days,
            "hard_cap_days": deps.policy.hard_cap_days,
        },
    }


def erase_patient(deps: PatientsDeps, call: Call, query: PatientQuery) -> dict[str, Any]:
    """Erase the patient's records that were never sent to SI-DEP; name the ones already sent."""
    finess = pharmacy_of(deps.journal, call, "patient_erasure")
    audit = call.audit(deps.journal)
    erased: list[str] = []
    already_sent: list[dict[str, str]] = []
    for record_id in _record_ids(deps, finess, query):
        for _ in range(ERASE_ATTEMPTS):
            try:
                record, blob = deps.repository.get(finess, record_id)
            except NotFound:
                break
            if blob is None:
                break  # erased meanwhile
            if delivery_rules.already_sent(record):
                already_sent.append(
                    {
                        "id": record.id,
                        "status": record.status.value,
                        "erased_here_on": _erased_here_on(record, deps.policy),
                    }
                )
                break
            reason = EraseReason.PATIENT_REQUEST.value
            erasure = deps.store.erase_unsent_change(record, now=deps.clock.now(), policy=deps.policy)
            try:  # the erasure and its event are one write
                audit.record("erase", record_ids=[record.id], reason=reason, changes=[erasure])
            except ChangedMeanwhile:
                continue  # a lease or a change since our read: read it again
            erased.append(record.id)
            break
        else:
            raise Conflict(
                "A record of this patient kept changing meanwhile; retry.",
                reason=ConflictReason.CHANGED_MEANWHILE,
            )
    found = [*erased, *(r["id"] for r in already_sent)]
    audit.record(
        "patient_erasure", record_ids=found, reason=f"erased={len(erased)} already_sent={len(already_sent)}"
    )
    return {
        "erased": erased,
        "already_sent": already_sent,
        "detail": f"{len(erased)} record(s) erased here. " + (SIDEP_HOLDS if already_sent else ""),
    }
